//! The `local` engine: the ranks of one machine joined by loopback TCP sockets in a star
//! around rank 0. Rank 0 listens on `MASTER_ADDR:TRM_DIST_PORT` (default `MASTER_PORT + 1`,
//! as torchrun's agent holds `MASTER_PORT` itself); the others connect and say who they are.
//! Reductions are summed on rank 0 in rank order and sent back, so results are the same bits
//! on every rank and in every run. Every read has a time-out (`TRM_DIST_TIMEOUT_S`, default
//! 600 s) except the wait for rank 0's next control word; a rank that dies closes its socket,
//! which its peers see at once as an error naming it.
//!
//! As the `local` engine it refuses addresses that are not loopback: jobs across machines
//! belong to MPI or NCCL. The NCCL engine uses the same star across machines
//! ([`LocalTcp::connect_network`]): rank 0 then listens on every interface, as torchrun's
//! store does, and the others connect to `MASTER_ADDR`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Collective, Control, DistEnv, DistError};

const MAGIC: u32 = 0x54524d31; // "TRM1"
const DEFAULT_TIMEOUT_S: u64 = 600;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

/// The data time-out from `TRM_DIST_TIMEOUT_S` (seconds).
pub fn timeout_from_env() -> Result<Duration, DistError> {
    match std::env::var("TRM_DIST_TIMEOUT_S") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&s| s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                DistError::Setup(format!(
                    "TRM_DIST_TIMEOUT_S={v}: expected a whole number of seconds above 0"
                ))
            }),
        Err(_) => Ok(Duration::from_secs(DEFAULT_TIMEOUT_S)),
    }
}

/// The port rank 0 listens on: `TRM_DIST_PORT`, else `MASTER_PORT + 1`.
pub fn listen_port(env: &DistEnv) -> Result<u16, DistError> {
    match std::env::var("TRM_DIST_PORT") {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| DistError::Setup(format!("TRM_DIST_PORT={v}: expected a port number"))),
        Err(_) => env.master_port.checked_add(1).ok_or_else(|| {
            DistError::Setup(format!(
                "MASTER_PORT={} leaves no port above it for the local engine (set TRM_DIST_PORT)",
                env.master_port
            ))
        }),
    }
}

#[derive(Debug)]
pub struct LocalTcp {
    rank: usize,
    world: usize,
    local_rank: usize,
    /// Rank 0: the sockets of ranks 1..world, in order. Others: the socket to rank 0.
    peers: Vec<Mutex<TcpStream>>,
    timeout: Duration,
}

fn resolve(env: &DistEnv, port: u16) -> Result<Vec<SocketAddr>, DistError> {
    Ok((env.master_addr.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| {
            DistError::Setup(format!(
                "MASTER_ADDR={}: cannot resolve it ({e})",
                env.master_addr
            ))
        })?
        .collect())
}

fn loopback(env: &DistEnv, port: u16) -> Result<SocketAddr, DistError> {
    resolve(env, port)?
        .iter()
        .find(|a| a.ip().is_loopback())
        .copied()
        .ok_or_else(|| {
            DistError::Setup(format!(
                "MASTER_ADDR={} is not this machine's loopback: the local engine joins the ranks \
                 of one machine; jobs across machines need the mpi or nccl build",
                env.master_addr
            ))
        })
}

fn io_err(e: std::io::Error, peer: usize, op: &'static str, timeout: Duration) -> DistError {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => DistError::Timeout {
            peer,
            op,
            secs: timeout.as_secs(),
        },
        ErrorKind::UnexpectedEof => DistError::PeerLost {
            peer,
            op,
            why: "its connection closed".into(),
        },
        _ => DistError::PeerLost {
            peer,
            op,
            why: e.to_string(),
        },
    }
}

fn read_u32(s: &mut TcpStream) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    s.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

impl LocalTcp {
    /// Join the job on this machine: rank 0 waits for every other rank on the loopback
    /// address, the others connect to it.
    pub fn connect(env: &DistEnv, timeout: Duration) -> Result<Self, DistError> {
        let port = listen_port(env)?;
        let addr = loopback(env, port)?;
        Self::join(env, timeout, addr, addr)
    }

    /// Join a job that may span machines: rank 0 listens on every interface, the others
    /// connect to `MASTER_ADDR`.
    pub fn connect_network(env: &DistEnv, timeout: Duration) -> Result<Self, DistError> {
        let port = listen_port(env)?;
        let addrs = resolve(env, port)?;
        let to = addrs.first().copied().ok_or_else(|| {
            DistError::Setup(format!(
                "MASTER_ADDR={}: it resolves to no address",
                env.master_addr
            ))
        })?;
        let any: std::net::IpAddr = if to.is_ipv4() {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        };
        Self::join(env, timeout, SocketAddr::new(any, port), to)
    }

    fn join(
        env: &DistEnv,
        timeout: Duration,
        listen: SocketAddr,
        addr: SocketAddr,
    ) -> Result<Self, DistError> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut peers = Vec::new();
        if env.rank == 0 {
            let addr = listen;
            let listener = TcpListener::bind(addr).map_err(|e| {
                DistError::Setup(format!(
                    "rank 0 cannot listen on {addr} ({e}); set TRM_DIST_PORT to a free port"
                ))
            })?;
            listener
                .set_nonblocking(true)
                .map_err(|e| DistError::Setup(format!("{addr}: {e}")))?;
            let mut slots: Vec<Option<TcpStream>> = (1..env.world).map(|_| None).collect();
            while slots.iter().any(Option::is_none) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false)
                            .and_then(|_| s.set_read_timeout(Some(CONNECT_TIMEOUT)))
                            .map_err(|e| DistError::Setup(format!("{addr}: {e}")))?;
                        let hello = (|| -> std::io::Result<(u32, u32, u32)> {
                            Ok((read_u32(&mut s)?, read_u32(&mut s)?, read_u32(&mut s)?))
                        })();
                        let (magic, rank, world) = match hello {
                            Ok(h) => h,
                            // Not one of ours (a port scan, a stale client): ignore it.
                            Err(_) => continue,
                        };
                        if magic != MAGIC {
                            continue;
                        }
                        let (rank, world) = (rank as usize, world as usize);
                        if world != env.world || rank == 0 || rank >= env.world {
                            return Err(DistError::Setup(format!(
                                "a rank joined as {rank} of {world}, this job is {} ranks",
                                env.world
                            )));
                        }
                        if slots[rank - 1].is_some() {
                            return Err(DistError::Setup(format!(
                                "two processes joined as rank {rank}"
                            )));
                        }
                        slots[rank - 1] = Some(s);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if Instant::now() > deadline {
                            let missing: Vec<String> = slots
                                .iter()
                                .enumerate()
                                .filter(|(_, s)| s.is_none())
                                .map(|(i, _)| (i + 1).to_string())
                                .collect();
                            return Err(DistError::Setup(format!(
                                "rank 0 waited {} s on {addr} for rank(s) {} to join",
                                CONNECT_TIMEOUT.as_secs(),
                                missing.join(", ")
                            )));
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => return Err(DistError::Setup(format!("{addr}: accept: {e}"))),
                }
            }
            for s in slots.into_iter().flatten() {
                peers.push(Mutex::new(s));
            }
        } else {
            let s = loop {
                match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                    Ok(s) => break s,
                    Err(e) => {
                        if Instant::now() > deadline {
                            return Err(DistError::Setup(format!(
                                "rank {} could not reach rank 0 at {addr} within {} s ({e})",
                                env.rank,
                                CONNECT_TIMEOUT.as_secs()
                            )));
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            };
            let mut s = s;
            let hello: Vec<u8> = [MAGIC, env.rank as u32, env.world as u32]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            s.write_all(&hello)
                .map_err(|e| DistError::Setup(format!("rank {}: {addr}: {e}", env.rank)))?;
            peers.push(Mutex::new(s));
        }
        for p in &peers {
            let s = p
                .lock()
                .map_err(|_| DistError::Setup("lock poisoned".into()))?;
            s.set_nodelay(true)
                .and_then(|_| s.set_read_timeout(Some(timeout)))
                .and_then(|_| s.set_write_timeout(Some(timeout)))
                .map_err(|e| DistError::Setup(format!("{addr}: {e}")))?;
        }
        Ok(Self {
            rank: env.rank,
            world: env.world,
            local_rank: env.local_rank,
            peers,
            timeout,
        })
    }

    /// The socket to `peer` (rank 0: peer >= 1; others: peer 0).
    fn with<T>(
        &self,
        peer: usize,
        op: &'static str,
        f: impl FnOnce(&mut TcpStream) -> std::io::Result<T>,
    ) -> Result<T, DistError> {
        let idx = if self.rank == 0 { peer - 1 } else { 0 };
        let mut s = self.peers[idx]
            .lock()
            .map_err(|_| DistError::Setup("lock poisoned".into()))?;
        f(&mut s).map_err(|e| io_err(e, peer, op, self.timeout))
    }

    fn send(&self, peer: usize, op: &'static str, data: &[u8]) -> Result<(), DistError> {
        self.with(peer, op, |s| {
            s.write_all(&(data.len() as u64).to_le_bytes())?;
            s.write_all(data)
        })
    }

    fn recv(&self, peer: usize, op: &'static str) -> Result<Vec<u8>, DistError> {
        self.with(peer, op, |s| {
            let mut n = [0u8; 8];
            s.read_exact(&mut n)?;
            let n = u64::from_le_bytes(n) as usize;
            let mut buf = vec![0u8; n];
            s.read_exact(&mut buf)?;
            Ok(buf)
        })
    }

    fn recv_len(&self, peer: usize, op: &'static str, len: usize) -> Result<Vec<u8>, DistError> {
        let b = self.recv(peer, op)?;
        if peer == 0 && len != 1 && b == [Control::Exit.to_byte()] {
            return Err(DistError::PeerLost {
                peer,
                op,
                why: "it ended the run".into(),
            });
        }
        if b.len() != len {
            return Err(DistError::Protocol {
                peer,
                op,
                got: format!("{} bytes", b.len()),
                expected: format!("{len} bytes (do all ranks run the same model and batch?)"),
            });
        }
        Ok(b)
    }

    /// Sum `n`-byte little-endian values element-wise on rank 0, in rank order.
    fn reduce<T: Copy + std::ops::Add<Output = T>, const N: usize>(
        &self,
        buf: &mut [T],
        op: &'static str,
        to: impl Fn(T) -> [u8; N],
        from: impl Fn([u8; N]) -> T,
    ) -> Result<(), DistError> {
        let len = buf.len() * N;
        if self.rank == 0 {
            for peer in 1..self.world {
                let b = self.recv_len(peer, op, len)?;
                for (x, c) in buf.iter_mut().zip(b.chunks_exact(N)) {
                    let mut a = [0u8; N];
                    a.copy_from_slice(c);
                    *x = *x + from(a);
                }
            }
            let out: Vec<u8> = buf.iter().flat_map(|&v| to(v)).collect();
            for peer in 1..self.world {
                self.send(peer, op, &out)?;
            }
        } else {
            let out: Vec<u8> = buf.iter().flat_map(|&v| to(v)).collect();
            self.send(0, op, &out)?;
            let b = self.recv_len(0, op, len)?;
            for (x, c) in buf.iter_mut().zip(b.chunks_exact(N)) {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                *x = from(a);
            }
        }
        Ok(())
    }
}

impl Collective for LocalTcp {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.world
    }
    fn local_rank(&self) -> usize {
        self.local_rank
    }
    fn engine(&self) -> &'static str {
        "local"
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), DistError> {
        self.reduce(buf, "all-reduce", f32::to_le_bytes, f32::from_le_bytes)
    }

    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), DistError> {
        self.reduce(buf, "all-reduce", f64::to_le_bytes, f64::from_le_bytes)
    }

    fn all_gather_bytes(&self, local: &[u8]) -> Result<Vec<Vec<u8>>, DistError> {
        let op = "all-gather";
        if self.rank == 0 {
            let mut parts = vec![local.to_vec()];
            for peer in 1..self.world {
                parts.push(self.recv(peer, op)?);
            }
            let mut out = (parts.len() as u64).to_le_bytes().to_vec();
            for p in &parts {
                out.extend((p.len() as u64).to_le_bytes());
                out.extend(p);
            }
            for peer in 1..self.world {
                self.send(peer, op, &out)?;
            }
            Ok(parts)
        } else {
            self.send(0, op, local)?;
            let b = self.recv(0, op)?;
            if b == [Control::Exit.to_byte()] {
                return Err(DistError::PeerLost {
                    peer: 0,
                    op,
                    why: "it ended the run".into(),
                });
            }
            let bad = || DistError::Protocol {
                peer: 0,
                op,
                got: "a malformed gather".into(),
                expected: "one part per rank".into(),
            };
            let mut parts = Vec::new();
            let mut at = 8;
            let count =
                u64::from_le_bytes(b.get(..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
            for _ in 0..count {
                let n = u64::from_le_bytes(
                    b.get(at..at + 8)
                        .ok_or_else(bad)?
                        .try_into()
                        .map_err(|_| bad())?,
                ) as usize;
                at += 8;
                parts.push(b.get(at..at + n).ok_or_else(bad)?.to_vec());
                at += n;
            }
            if parts.len() != self.world {
                return Err(bad());
            }
            Ok(parts)
        }
    }

    fn broadcast_bytes(&self, buf: &mut Vec<u8>) -> Result<(), DistError> {
        if self.rank == 0 {
            for peer in 1..self.world {
                self.send(peer, "broadcast", buf)?;
            }
        } else {
            *buf = self.recv(0, "broadcast")?;
        }
        Ok(())
    }

    fn control(&self, word: Control) -> Result<Control, DistError> {
        let op = "the wait for rank 0's next control word";
        if self.rank == 0 {
            for peer in 1..self.world {
                self.send(peer, "a control word", &[word.to_byte()])?;
            }
            return Ok(word);
        }
        self.with(0, op, |s| s.set_read_timeout(None))?;
        let got = self.recv(0, op);
        self.with(0, op, |s| s.set_read_timeout(Some(self.timeout)))?;
        let got = got?;
        match got.as_slice() {
            [b] => Control::from_byte(*b).ok_or_else(|| DistError::Protocol {
                peer: 0,
                op,
                got: format!("byte {b}"),
                expected: "a control word".into(),
            }),
            _ => Err(DistError::Protocol {
                peer: 0,
                op,
                got: format!("{} bytes", got.len()),
                expected: "a control word".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    fn env(rank: usize, world: usize, port: u16) -> DistEnv {
        DistEnv {
            rank,
            world,
            local_rank: rank,
            master_addr: "127.0.0.1".into(),
            // listen_port() adds one when TRM_DIST_PORT is unset.
            master_port: port - 1,
            source: "test",
        }
    }

    /// Run `f` on `world` ranks joined by the local engine (threads standing in for processes).
    fn on_ranks<T: Send + 'static>(
        world: usize,
        f: impl Fn(Arc<dyn Collective>) -> T + Send + Sync + 'static,
    ) -> Vec<T> {
        let port = free_port();
        let f = Arc::new(f);
        let handles: Vec<_> = (0..world)
            .map(|r| {
                let f = Arc::clone(&f);
                std::thread::spawn(move || {
                    let c = LocalTcp::connect(&env(r, world, port), Duration::from_secs(20))
                        .expect("connect");
                    f(Arc::new(c))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("rank"))
            .collect()
    }

    #[test]
    fn reductions_sum_in_rank_order_and_agree_everywhere() {
        let out = on_ranks(3, |c| {
            let r = c.rank() as f32;
            let mut v = vec![0.1 + r, 1e8 * (r - 1.0), r];
            c.all_reduce_sum_f32(&mut v).unwrap();
            let mut d = vec![c.rank() as f64 * 0.5];
            c.all_reduce_sum_f64(&mut d).unwrap();
            (v, d)
        });
        let expect0 = (0.1f32 + 1.1) + 2.1;
        let expect1 = (-1e8f32 + 0.0) + 1e8;
        for (v, d) in &out {
            assert_eq!(v[0].to_bits(), expect0.to_bits());
            assert_eq!(v[1].to_bits(), expect1.to_bits());
            assert_eq!(v[2], 3.0);
            assert_eq!(d[0], 1.5);
        }
    }

    #[test]
    fn gather_broadcast_and_control() {
        let out = on_ranks(3, |c| {
            let parts = c
                .all_gather_bytes(&vec![c.rank() as u8; c.rank() + 1])
                .unwrap();
            let mut b = if c.rank() == 0 {
                b"hello".to_vec()
            } else {
                Vec::new()
            };
            c.broadcast_bytes(&mut b).unwrap();
            let w = c.control(Control::Save).unwrap();
            let f = super::super::all_gather_f32(&*c, &[c.rank() as f32]).unwrap();
            (parts, b, w, f)
        });
        for (parts, b, w, f) in out {
            assert_eq!(parts, vec![vec![0], vec![1, 1], vec![2, 2, 2]]);
            assert_eq!(b, b"hello");
            assert_eq!(w, Control::Save);
            assert_eq!(f, vec![0.0, 1.0, 2.0]);
        }
    }

    #[test]
    fn a_lost_rank_is_named_not_waited_for() {
        let out = on_ranks(2, |c| {
            if c.rank() == 1 {
                // Rank 1 leaves without taking part (its socket closes).
                return None;
            }
            let mut v = vec![1.0f32];
            let t0 = Instant::now();
            let e = c.all_reduce_sum_f32(&mut v).unwrap_err();
            Some((e.to_string(), t0.elapsed()))
        });
        let (msg, took) = out[0].clone().expect("rank 0's error");
        assert!(msg.contains("rank 1 is gone"), "{msg}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn the_network_star_joins_through_every_interface() {
        // What the nccl engine uses: rank 0 listens on 0.0.0.0, the others dial MASTER_ADDR.
        let port = free_port();
        let handles: Vec<_> = (0..3)
            .map(|r| {
                std::thread::spawn(move || {
                    let mut e = env(r, 3, port);
                    e.local_rank = r % 2;
                    let c = LocalTcp::connect_network(&e, Duration::from_secs(20)).expect("join");
                    let mut v = vec![r as f32 + 1.0];
                    c.all_reduce_sum_f32(&mut v).unwrap();
                    (c.local_rank(), v[0])
                })
            })
            .collect();
        let out: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(out, vec![(0, 6.0), (1, 6.0), (0, 6.0)]);
    }

    #[test]
    fn mixed_gpu_and_cpu_ranks_are_refused_on_every_rank() {
        let out = on_ranks(3, |c| {
            let gpu = c.rank() != 1;
            let mixed = super::super::agree_on_gpu(&*c, gpu, "nccl").map_err(|e| e.to_string());
            let all_cpu = super::super::agree_on_gpu(&*c, false, "nccl").is_ok();
            let all_gpu = super::super::agree_on_gpu(&*c, true, "nccl").is_ok();
            (mixed, all_cpu, all_gpu)
        });
        for (mixed, all_cpu, all_gpu) in out {
            let e = mixed.unwrap_err();
            assert!(e.contains("rank(s) 1 train on the CPU"), "{e}");
            assert!(all_cpu && all_gpu);
        }
    }

    #[test]
    fn remote_addresses_are_refused() {
        let mut e = env(0, 2, 2000);
        e.master_addr = "192.0.2.1".into();
        let err = LocalTcp::connect(&e, Duration::from_secs(1)).unwrap_err();
        assert!(
            err.to_string().contains("not this machine's loopback"),
            "{err}"
        );
    }
}
