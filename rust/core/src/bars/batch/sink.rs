//! Output columns allocated once at their exact size and written once per element, in place,
//! from several threads: no zeroing, no intermediate buffer, no copy.
//!
//! The rows `0..len` are split into consecutive [`Window`]s; a window writes its rows in order
//! and is the only writer of them, and the columns become a [`BarColumns`] only when every
//! window has been filled. This module is the only `unsafe` of the batch path.
#![allow(unsafe_code)]

use std::marker::PhantomData;

use super::BarColumns;

/// One output row.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    pub group: i64,
    pub date: i32,
    pub start_ms: i32,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: i64,
    pub count: i64,
    pub vwap: f64,
}

/// Pointers to the (uninitialised) storage of each column of a [`Sink`].
struct Pointers {
    /// Null when the output has no group column.
    group: *mut i64,
    date: *mut i32,
    start_ms: *mut i32,
    open: *mut f64,
    high: *mut f64,
    low: *mut f64,
    close: *mut f64,
    volume: *mut i64,
    count: *mut i64,
    vwap: *mut f64,
}

/// The output columns while they are being written.
pub(super) struct Sink {
    /// Every `Vec` has capacity `len` and length 0 until [`finish`](Self::finish).
    columns: BarColumns,
    at: Pointers,
    len: usize,
    windows: usize,
}

// SAFETY: the raw pointers are only written through `Window::push`, and windows cover disjoint
// rows (`Sink::windows` hands out one partition of `0..len`, each window writes only inside its
// own range, and windows are neither `Clone` nor constructible elsewhere), so threads holding
// different windows never write the same element; nothing reads the storage until `finish`,
// which takes the sink by value (no window, which borrows it, is left).
unsafe impl Sync for Sink {}
// SAFETY: as above; the pointers are owned storage of `columns`, moved along with it.
unsafe impl Send for Sink {}

impl Sink {
    /// Columns of `len` rows, allocated but not initialised.
    pub(super) fn new(len: usize, grouped: bool) -> Self {
        let mut columns = BarColumns::with_capacity(len, grouped);
        let at = Pointers {
            group: columns
                .group
                .as_mut()
                .map_or(std::ptr::null_mut(), Vec::as_mut_ptr),
            date: columns.date.as_mut_ptr(),
            start_ms: columns.start_ms.as_mut_ptr(),
            open: columns.open.as_mut_ptr(),
            high: columns.high.as_mut_ptr(),
            low: columns.low.as_mut_ptr(),
            close: columns.close.as_mut_ptr(),
            volume: columns.volume.as_mut_ptr(),
            count: columns.count.as_mut_ptr(),
            vwap: columns.vwap.as_mut_ptr(),
        };
        Self {
            columns,
            at,
            len,
            windows: 0,
        }
    }

    /// Splits the rows into consecutive windows of `lengths` (which must sum to the length).
    /// Called once.
    pub(super) fn windows(&mut self, lengths: &[usize]) -> Vec<Window<'_>> {
        assert_eq!(self.windows, 0, "the rows are split once");
        assert_eq!(
            lengths.iter().sum::<usize>(),
            self.len,
            "windows must cover every row"
        );
        self.windows = lengths.len();
        let sink: &Sink = self;
        let mut start = 0;
        lengths
            .iter()
            .map(|&len| {
                let window = Window {
                    sink,
                    next: start,
                    end: start + len,
                    _not_clone: PhantomData,
                };
                start += len;
                window
            })
            .collect()
    }

    /// The columns, once every window handed out has been filled.
    pub(super) fn finish(mut self, filled: &[Filled]) -> BarColumns {
        assert_eq!(filled.len(), self.windows, "every window must be filled");
        let len = self.len;
        let c = &mut self.columns;
        // SAFETY: each `Filled` comes from `Window::filled`, which checks that the window wrote
        // every row of its range; there is one per window (checked above), and the windows
        // partition `0..len` (checked in `windows`), so every element below `len` of every
        // column is initialised. Capacity is `len` (allocated in `new`).
        unsafe {
            if let Some(group) = &mut c.group {
                group.set_len(len);
            }
            c.date.set_len(len);
            c.start_ms.set_len(len);
            c.open.set_len(len);
            c.high.set_len(len);
            c.low.set_len(len);
            c.close.set_len(len);
            c.volume.set_len(len);
            c.count.set_len(len);
            c.vwap.set_len(len);
        }
        std::mem::take(&mut self.columns)
    }
}

/// The only writer of rows `next..end` of a [`Sink`].
pub(super) struct Window<'s> {
    sink: &'s Sink,
    next: usize,
    end: usize,
    /// Not `Clone`, not `Copy`: two windows over the same rows must never exist.
    _not_clone: PhantomData<*const ()>,
}

// SAFETY: a window writes only its own rows (see `Sink`'s `Sync`), so it may move to another
// thread; `PhantomData<*const ()>` is there only to keep it from being `Clone`/`Copy`.
unsafe impl Send for Window<'_> {}

/// Proof that a window wrote all its rows.
pub(super) struct Filled(());

impl Window<'_> {
    /// Writes the window's next row.
    #[inline]
    pub(super) fn push(&mut self, row: &Row) {
        let at = self.next;
        assert!(at < self.end, "more rows than the window holds");
        let p = &self.sink.at;
        // SAFETY: `at < end <= len`, the capacity of every column, so the writes are in bounds;
        // no other window covers `at` and this one writes it once (`next` only grows), so no
        // other thread accesses these elements; nothing reads them before `Sink::finish`.
        unsafe {
            if !p.group.is_null() {
                p.group.add(at).write(row.group);
            }
            p.date.add(at).write(row.date);
            p.start_ms.add(at).write(row.start_ms);
            p.open.add(at).write(row.open);
            p.high.add(at).write(row.high);
            p.low.add(at).write(row.low);
            p.close.add(at).write(row.close);
            p.volume.add(at).write(row.volume);
            p.count.add(at).write(row.count);
            p.vwap.add(at).write(row.vwap);
        }
        self.next = at + 1;
    }

    #[cfg(test)]
    /// Rows still to write.
    pub(super) fn remaining(&self) -> usize {
        self.end - self.next
    }

    /// Consumes a full window (panics if a row was not written).
    pub(super) fn filled(self) -> Filled {
        assert_eq!(self.next, self.end, "a window was left with rows unwritten");
        Filled(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize) -> Row {
        Row {
            group: i as i64,
            date: 1,
            start_ms: i as i32,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10,
            count: 2,
            vwap: 1.25,
        }
    }

    #[test]
    fn windows_fill_their_rows_from_threads() {
        let mut sink = Sink::new(7, true);
        let windows = sink.windows(&[3, 0, 4]);
        let filled: Vec<Filled> = std::thread::scope(|s| {
            let mut starts = [0, 3, 3].into_iter();
            let handles: Vec<_> = windows
                .into_iter()
                .map(|mut w| {
                    let start = starts.next().unwrap();
                    s.spawn(move || {
                        for i in start..start + w.remaining() {
                            w.push(&row(i));
                        }
                        w.filled()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let columns = sink.finish(&filled);
        assert_eq!(columns.group, Some((0..7).collect()));
        assert_eq!(columns.start_ms, (0..7).collect::<Vec<_>>());
        assert_eq!(columns.vwap, [1.25; 7]);
    }

    #[test]
    fn no_group_column_and_empty() {
        let mut sink = Sink::new(0, false);
        assert!(sink.windows(&[]).is_empty());
        let columns = sink.finish(&[]);
        assert!(columns.is_empty() && columns.group.is_none());
    }

    #[test]
    #[should_panic(expected = "more rows than the window holds")]
    fn a_window_cannot_overflow() {
        let mut sink = Sink::new(1, false);
        let mut windows = sink.windows(&[1]);
        windows[0].push(&row(0));
        windows[0].push(&row(1));
    }

    #[test]
    #[should_panic(expected = "rows unwritten")]
    fn a_window_must_be_filled() {
        let mut sink = Sink::new(2, false);
        let mut windows = sink.windows(&[2]);
        windows[0].push(&row(0));
        let _ = windows.pop().unwrap().filled();
    }
}
