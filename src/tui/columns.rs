//! Fitting a table to its width: whole columns go, in an order the table gives, until the rest
//! fit, so that a narrow pane never cuts every figure short.

/// The indices of the columns of `widths` that fit in `width` cells with one space between
/// columns, in their order: the columns of `drop_order` (indices, least telling first) go one
/// by one until the rest fit. Columns not in `drop_order` always stay.
pub fn fitting(widths: &[u16], drop_order: &[usize], width: usize) -> Vec<usize> {
    let mut kept: Vec<usize> = (0..widths.len()).collect();
    let need = |kept: &[usize]| {
        kept.iter()
            .map(|&c| usize::from(widths[c]) + 1)
            .sum::<usize>()
            .saturating_sub(1)
    };
    for c in drop_order {
        if need(&kept) <= width {
            break;
        }
        kept.retain(|k| k != c);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::fitting;

    #[test]
    fn columns_go_in_the_drop_order_until_the_rest_fit() {
        // Widths 4, 6, 5 and 7: 22 cells and 3 spaces.
        let w = [4, 6, 5, 7];
        assert_eq!(fitting(&w, &[3, 1], 25), [0, 1, 2, 3]);
        assert_eq!(fitting(&w, &[3, 1], 24), [0, 1, 2]);
        assert_eq!(fitting(&w, &[3, 1], 17), [0, 1, 2]);
        assert_eq!(fitting(&w, &[3, 1], 16), [0, 2]);
        // Columns outside the drop order stay however narrow.
        assert_eq!(fitting(&w, &[3, 1], 0), [0, 2]);
        assert_eq!(fitting(&[], &[], 0), Vec::<usize>::new());
    }
}
