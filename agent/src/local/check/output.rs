//! Bounding a check's output: every text a runner reports fits in the check's
//! `output_max_size` bytes, cut on a character boundary.

use std::collections::VecDeque;

/// Cuts `text` to at most `max` bytes, keeping its head and never splitting a character.
pub fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let end = floor_char_boundary(&text, max);
        text.truncate(end);
    }
    text
}

/// The largest index `<= at` that starts a character (`str::floor_char_boundary` is not
/// stable yet).
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The smallest index `>= at` that starts a character.
fn ceil_char_boundary(text: &str, at: usize) -> usize {
    let mut start = at.min(text.len());
    while !text.is_char_boundary(start) {
        start += 1;
    }
    start
}

/// Consul's cut of an output given to a TTL check (`CheckTTL.SetStatus`): the head, then
/// ` ... (captured <max> of <total> bytes)`. The note makes the text a little longer than
/// `max`, as in Consul.
pub fn cut_ttl_output(output: String, max: usize) -> String {
    if output.len() <= max {
        return output;
    }
    let total = output.len();
    let head = cut(output, max);
    format!("{head} ... (captured {} of {total} bytes)", head.len())
}

/// The last `capacity` bytes written to it, and how many were written in all: a script's
/// output, whose end (the error that made it fail) matters more than its start. It keeps
/// Consul's `circbuf` semantics with a fixed memory bound however much the script prints.
#[derive(Debug)]
pub struct Tail {
    capacity: usize,
    bytes: VecDeque<u8>,
    total: u64,
}

impl Tail {
    pub fn new(capacity: usize) -> Self {
        Tail {
            capacity,
            bytes: VecDeque::with_capacity(capacity.min(64 * 1024)),
            total: 0,
        }
    }

    pub fn write(&mut self, data: &[u8]) {
        self.total = self.total.saturating_add(data.len() as u64);
        let keep = data.len().min(self.capacity);
        let data = &data[data.len() - keep..];
        let overflow = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.bytes.extend(data);
    }

    /// The output as Consul reports it (`Captured <shown> of <total> bytes\n...\n<tail>` when
    /// bytes were dropped), the tail cut at its front so that the whole fits in `capacity`
    /// bytes (Consul lets the note overflow the size).
    pub fn render(&self) -> String {
        let (front, back) = self.bytes.as_slices();
        let mut raw = Vec::with_capacity(self.bytes.len());
        raw.extend_from_slice(front);
        raw.extend_from_slice(back);
        let text = String::from_utf8_lossy(&raw).into_owned();
        if self.total <= self.bytes.len() as u64 {
            // Nothing was dropped, but invalid UTF-8 may have grown the text.
            return cut(text, self.capacity);
        }
        let note = |shown: usize| format!("Captured {shown} of {} bytes\n...\n", self.total);
        // Room for the note as it reads with every kept byte; the note then counts the
        // bytes actually shown, which can only make it shorter.
        let room = self.capacity.saturating_sub(note(text.len()).len());
        let start = ceil_char_boundary(&text, text.len().saturating_sub(room));
        let shown = &text[start..];
        cut(format!("{}{shown}", note(shown.len())), self.capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_short_text() {
        assert_eq!(cut("hello".into(), 5), "hello");
        assert_eq!(cut("hello".into(), 10), "hello");
        assert_eq!(cut(String::new(), 0), "");
    }

    #[test]
    fn cut_never_splits_a_character() {
        // "é" is two bytes: a cut in its middle drops it whole.
        assert_eq!(cut("aé".into(), 2), "a");
        assert_eq!(cut("aé".into(), 3), "aé");
        assert_eq!(cut("€€".into(), 4), "€");
        assert_eq!(cut("€".into(), 0), "");
    }

    #[test]
    fn ttl_output_is_noted_when_cut() {
        assert_eq!(cut_ttl_output("short".into(), 10), "short");
        assert_eq!(
            cut_ttl_output("0123456789".into(), 4),
            "0123 ... (captured 4 of 10 bytes)"
        );
    }

    #[test]
    fn tail_keeps_everything_under_capacity() {
        let mut tail = Tail::new(16);
        tail.write(b"hello ");
        tail.write(b"world");
        assert_eq!(tail.render(), "hello world");
    }

    #[test]
    fn tail_keeps_the_end_and_notes_the_loss() {
        let mut tail = Tail::new(40);
        for _ in 0..10 {
            tail.write(b"0123456789");
        }
        let text = tail.render();
        assert!(text.len() <= 40, "{text:?}");
        assert_eq!(text, "Captured 11 of 100 bytes\n...\n90123456789");
        assert!(text.ends_with("56789"), "{text:?}");
    }

    #[test]
    fn tail_handles_a_write_larger_than_capacity() {
        let mut tail = Tail::new(4);
        tail.write(b"abcdefgh");
        assert_eq!(tail.bytes.iter().copied().collect::<Vec<_>>(), b"efgh");
        assert_eq!(tail.total, 8);
        // The note alone does not fit in four bytes: the text is still cut to them.
        assert!(tail.render().len() <= 4);
    }

    #[test]
    fn tail_cut_inside_a_character_stays_valid() {
        let mut tail = Tail::new(40);
        tail.write("é".repeat(50).as_bytes());
        let text = tail.render();
        assert!(text.len() <= 40);
        assert!(text.ends_with('é'));
    }
}
