//! Plain aligned columns as Juju prints them: a header row, two spaces
//! between columns, no borders, no trailing spaces (so `grep`, `awk` and
//! `cut` work on the output).

/// Replaces control characters with `?`.
///
/// rosterd refuses them in names and profiles, but a cell printed to a
/// terminal must never be able to move the cursor or retitle the window,
/// whatever the daemon let through.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells print empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells.iter().map(|c| clean(c)).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w.saturating_sub(width(cell))));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key: value` lines with the values aligned, for the detail views.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let label = format!("{key}:");
        out.push_str(format!("{label:<width$}  {}", clean(value)).trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_without_trailing_spaces() {
        let mut t = Table::new(&["Name", "Display name", "Role"]);
        t.row(vec!["admin".into(), "The Admin".into(), "admin".into()]);
        t.row(vec!["mike".into(), String::new(), "user".into()]);
        assert_eq!(
            t.render(),
            "Name   Display name  Role\n\
             admin  The Admin     admin\n\
             mike                 user\n"
        );
    }

    #[test]
    fn an_empty_last_column_leaves_no_trailing_space() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["x".into(), String::new()]);
        assert_eq!(t.render(), "A  B\nx\n");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let mut t = Table::new(&["Name"]);
        t.row(vec!["evil\u{1b}]0;pwned\u{7}\nline".into()]);
        let out = t.render();
        assert!(!out.contains('\u{1b}'));
        assert_eq!(out.lines().count(), 2);
    }

    #[test]
    fn short_rows_are_padded() {
        let mut t = Table::new(&["A", "B", "C"]);
        t.row(vec!["1".into()]);
        assert_eq!(t.render(), "A  B  C\n1\n");
    }

    #[test]
    fn fields_align_their_values() {
        let out = fields(&[
            ("name", "bob".into()),
            ("display name", "Bob".into()),
            ("home", String::new()),
        ]);
        assert_eq!(out, "name:          bob\ndisplay name:  Bob\nhome:\n");
    }

    #[test]
    fn wide_text_is_counted_by_characters() {
        let mut t = Table::new(&["N", "X"]);
        t.row(vec!["zoë".into(), "1".into()]);
        assert_eq!(t.render(), "N    X\nzoë  1\n");
    }
}
