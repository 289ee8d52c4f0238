//! Byte-string search shared by the detectors, with its work counted.

use super::work;

/// The first occurrence of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        work::add(1);
        return None;
    }
    let first = needle[0];
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    let found = loop {
        match hay[i..=last_start].iter().position(|&c| c == first) {
            Some(p) => {
                i += p;
                if &hay[i..i + needle.len()] == needle {
                    break Some(i);
                }
                i += 1;
                if i > last_start {
                    break None;
                }
            }
            None => {
                i = last_start + 1;
                break None;
            }
        }
    };
    // Every byte passed over, and each candidate compared (bounded by the needle's length).
    work::add(i + 1);
    found
}

/// The first occurrence of a needle at or after a position, remembered: asked with positions
/// that only grow (each `<` of a page, each `/*` of a query), it reads the haystack once in
/// all instead of once per question.
pub(crate) struct Next<'a> {
    hay: &'a [u8],
    needle: &'a [u8],
    /// The last answer: the first occurrence at or after `from` (`None`: there is none).
    last: Option<(usize, Option<usize>)>,
}

impl<'a> Next<'a> {
    pub(crate) fn new(hay: &'a [u8], needle: &'a [u8]) -> Self {
        Next { hay, needle, last: None }
    }

    pub(crate) fn at_or_after(&mut self, pos: usize) -> Option<usize> {
        if let Some((from, found)) = self.last {
            if from <= pos && found.is_none_or(|f| f >= pos) {
                return found;
            }
        }
        let found = find(self.hay.get(pos..).unwrap_or_default(), self.needle).map(|p| pos + p);
        self.last = Some((pos, found));
        found
    }
}

/// Several needles looked for in one pass over the haystack instead of one pass each.
pub(crate) struct Needles<const N: usize> {
    needles: [&'static [u8]; N],
    /// For each byte, the needles that start with it (bit `i`: needle `i`).
    starting_with: [u32; 256],
}

impl<const N: usize> Needles<N> {
    pub(crate) const fn new(needles: [&'static str; N]) -> Self {
        assert!(N <= 32, "one bit per needle");
        let mut bytes: [&'static [u8]; N] = [&[]; N];
        let mut starting_with = [0u32; 256];
        let mut i = 0;
        while i < N {
            bytes[i] = needles[i].as_bytes();
            starting_with[bytes[i][0] as usize] |= 1 << i;
            i += 1;
        }
        Needles { needles: bytes, starting_with }
    }

    pub(crate) fn get(&self, i: usize) -> &'static [u8] {
        self.needles[i]
    }

    /// The first needle in the list that occurs in `hay` somewhere `accept(needle, at)`
    /// holds, and the first such place: what trying the needles one after the other, each
    /// from the start, would answer.
    pub(crate) fn first(&self, hay: &[u8], mut accept: impl FnMut(usize, usize) -> bool) -> Option<(usize, usize)> {
        let mut best = None;
        // The needles that can still be the answer: those before the best found so far.
        let mut wanted: u32 = if N == 32 { u32::MAX } else { (1 << N) - 1 };
        let mut at = 0;
        while at < hay.len() && wanted != 0 {
            let mut candidates = self.starting_with[hay[at] as usize] & wanted;
            while candidates != 0 {
                let i = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                if hay[at..].starts_with(self.needles[i]) && accept(i, at) {
                    best = Some((i, at));
                    wanted &= (1 << i) - 1;
                    candidates &= wanted;
                }
            }
            at += 1;
        }
        work::add(at + 1);
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_and_next_agree_with_a_plain_search() {
        let hay = b"a*/b**/*/c/";
        let plain = |from: usize| (from..hay.len()).find(|&i| hay[i..].starts_with(b"*/"));
        assert_eq!(find(hay, b"*/"), Some(1));
        assert_eq!(find(hay, b"*/c/x"), None);
        assert_eq!(find(b"", b"*/"), None);
        let mut next = Next::new(hay, b"*/");
        for pos in [0, 0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11, 12, 0] {
            assert_eq!(next.at_or_after(pos), plain(pos), "at {pos}");
        }
    }

    #[test]
    fn needles_answer_like_one_search_per_needle() {
        const N: Needles<4> = Needles::new(["ab", "b", "abc", "ca"]);
        let one_by_one = |hay: &[u8], accept: &dyn Fn(usize, usize) -> bool| {
            (0..4).find_map(|i| {
                (0..hay.len()).find(|&at| hay[at..].starts_with(N.get(i)) && accept(i, at)).map(|at| (i, at))
            })
        };
        for hay in [&b"xxabcab"[..], b"cab", b"bbb", b"", b"xyz", b"cacaab"] {
            let accepts: [&dyn Fn(usize, usize) -> bool; 3] = [&|_, _| true, &|_, at| at % 2 == 1, &|i, _| i != 0];
            for accept in accepts {
                assert_eq!(N.first(hay, accept), one_by_one(hay, accept));
            }
        }
    }
}
