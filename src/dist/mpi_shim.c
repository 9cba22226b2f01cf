/* The MPI calls of trm-tui's `mpi` engine (src/dist/mpi.rs), compiled by build.rs with the
 * machine's `mpicc`. Going through mpi.h keeps the engine portable across MPI libraries
 * (Open MPI, MPICH): their handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM) differ in C ABI. */
#include <limits.h>
#include <mpi.h>
#include <stdint.h>

int trm_mpi_init(int *rank, int *size, int *provided) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
        if (rc != MPI_SUCCESS) return rc;
    } else {
        MPI_Query_thread(provided);
    }
    *provided = *provided >= MPI_THREAD_SERIALIZED;
    /* Errors come back as codes (and become Rust errors), not as an abort inside MPI. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int trm_mpi_allreduce_f32(float *buf, int64_t n) {
    if (n > INT_MAX) return -2;
    return MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

int trm_mpi_allreduce_f64(double *buf, int64_t n) {
    if (n > INT_MAX) return -2;
    return MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

/* Every rank's count (one int64 each). */
int trm_mpi_allgather_i64(int64_t local, int64_t *all) {
    return MPI_Allgather(&local, 1, MPI_INT64_T, all, 1, MPI_INT64_T, MPI_COMM_WORLD);
}

int trm_mpi_allgatherv_bytes(const unsigned char *local, int count, unsigned char *out,
                             const int *counts, const int *displs) {
    return MPI_Allgatherv(local, count, MPI_BYTE, out, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
}

int trm_mpi_bcast_bytes(unsigned char *buf, int64_t n) {
    if (n > INT_MAX) return -2;
    return MPI_Bcast(buf, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
}

int trm_mpi_bcast_i64(int64_t *v) {
    return MPI_Bcast(v, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
}

int trm_mpi_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    return finalized ? MPI_SUCCESS : MPI_Finalize();
}

int trm_mpi_abort(int code) {
    return MPI_Abort(MPI_COMM_WORLD, code);
}

/* The library's message for an error code; returns its length. */
int trm_mpi_error_string(int code, char *out, int cap) {
    char buf[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (code == -2) {
        const char *msg = "more than INT_MAX elements in one call";
        for (len = 0; msg[len] && len < cap; len++) out[len] = msg[len];
        return len;
    }
    if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) return 0;
    if (len > cap) len = cap;
    for (int i = 0; i < len; i++) out[i] = buf[i];
    return len;
}
