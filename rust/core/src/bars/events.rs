//! Feeding a [`BarBook`] straight from decoded TRADE columns (the client's per-read path).

use super::{BarBook, Trade};

impl BarBook {
    /// Applies decoded TRADE rows in order (`contract_id`, `date`, `ms_of_day`, `price`, `size`
    /// as the event decoder produces them). A row that no bar can hold (a time beyond `i32`, a
    /// contract id above [`MAX_CONTRACT_ID`](super::MAX_CONTRACT_ID)) is skipped; returns how
    /// many were skipped.
    ///
    /// # Panics
    /// If the columns differ in length (the decoder's never do).
    pub fn update_decoded(
        &mut self,
        contract_id: &[u32],
        date: &[u32],
        ms_of_day: &[u32],
        price: &[f64],
        size: &[u32],
    ) -> u64 {
        let n = contract_id.len();
        assert!(
            date.len() == n && ms_of_day.len() == n && price.len() == n && size.len() == n,
            "trade columns of unequal length"
        );
        let mut skipped = 0;
        for row in 0..n {
            let (Ok(date), Ok(ms_of_day)) =
                (i32::try_from(date[row]), i32::try_from(ms_of_day[row]))
            else {
                skipped += 1;
                continue;
            };
            let trade = Trade {
                date,
                ms_of_day,
                price: price[row],
                size: i64::from(size[row]),
            };
            if self.update_trade(contract_id[row], trade).is_err() {
                skipped += 1;
            }
        }
        skipped
    }
}

#[cfg(test)]
mod tests {
    use crate::bars::BarBook;

    #[test]
    fn decoded_rows_equal_the_column_path_and_bad_rows_are_skipped() {
        let mut a = BarBook::new(&[1000], 8).unwrap();
        let skipped = a.update_decoded(
            &[0, 1, 0, 0, 5_000_000],
            &[20250321, 20250321, 20250321, u32::MAX, 20250321],
            &[10, 20, 1500, 0, 0],
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[1, 2, 3, 4, 5],
        );
        assert_eq!(skipped, 2);
        let mut b = BarBook::new(&[1000], 8).unwrap();
        let cols = crate::bars::TradeColumns::new(
            &[20250321, 20250321, 20250321],
            &[10, 20, 1500],
            &[1.0, 2.0, 3.0],
            &[1, 2, 3],
        )
        .unwrap();
        b.update(&[0, 1, 0], &cols).unwrap();
        for id in [0, 1] {
            assert_eq!(a.session(id), b.session(id));
            assert_eq!(a.open_bar(id, 1000).unwrap(), b.open_bar(id, 1000).unwrap());
            let ra = a.ring(id, 1000).unwrap().map(|r| r.as_slice().to_vec());
            let rb = b.ring(id, 1000).unwrap().map(|r| r.as_slice().to_vec());
            assert_eq!(ra, rb);
        }
    }
}
