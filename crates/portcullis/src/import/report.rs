//! What an import did (or, in a dry run, would do): counts per table and the reason of every
//! refused row, printed for the operator and written as JSON with `--report`.
//!
//! Must never hold a row's values beyond the e-mail or id that names it: no password hash, no
//! token ever reaches a report.

use serde::Serialize;

/// The whole import.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Where the rows came from (a database URL without its password, or a file).
    pub source: String,
    pub dry_run: bool,
    pub on_conflict: String,
    /// One entry per table, in the order they were imported.
    pub tables: Vec<TableReport>,
    /// Tables or columns left out, and why (not in the source, not in the target, not asked for).
    pub notes: Vec<String>,
}

/// One table's counts. `read = imported + updated + skipped + refused`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableReport {
    pub table: String,
    pub read: u64,
    /// New rows written (in a dry run: that would be written).
    pub imported: u64,
    /// Existing rows overwritten (`--on-conflict update`).
    pub updated: u64,
    /// Rows already there (same id, or the same e-mail for users), left as they are.
    pub skipped: u64,
    pub refused: u64,
    pub refusals: Vec<Refusal>,
}

/// A row that was not imported, named by where it was (`line 4`, `item 2`, `id abc`).
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub row: String,
    pub reason: String,
}

impl Report {
    /// The counts of `table`, created (in import order) on first use.
    pub fn table(&mut self, table: &str) -> &mut TableReport {
        let i = match self.tables.iter().position(|t| t.table == table) {
            Some(i) => i,
            None => {
                self.tables.push(TableReport { table: table.to_string(), ..TableReport::default() });
                self.tables.len() - 1
            }
        };
        &mut self.tables[i]
    }

    /// Rows refused over every table.
    pub fn refused(&self) -> u64 {
        self.tables.iter().map(|t| t.refused).sum()
    }

    /// A plain-text summary: one line per table, then the refused rows and the notes.
    pub fn render(&self) -> String {
        let mut out = format!(
            "import from {}{} (on conflict: {})\n",
            self.source,
            if self.dry_run { " — DRY RUN, nothing written" } else { "" },
            self.on_conflict
        );
        out.push_str(&format!("{:<24} {:>8} {:>8} {:>8} {:>8} {:>8}\n", "table", "read", "imported", "updated", "skipped", "refused"));
        for t in &self.tables {
            out.push_str(&format!("{:<24} {:>8} {:>8} {:>8} {:>8} {:>8}\n", t.table, t.read, t.imported, t.updated, t.skipped, t.refused));
        }
        for t in self.tables.iter().filter(|t| !t.refusals.is_empty()) {
            out.push_str(&format!("refused in {}:\n", t.table));
            for r in &t.refusals {
                out.push_str(&format!("  {}: {}\n", r.row, r.reason));
            }
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }
}

impl TableReport {
    pub(super) fn refuse(&mut self, row: impl Into<String>, reason: impl Into<String>) {
        self.refused += 1;
        self.refusals.push(Refusal { row: row.into(), reason: reason.into() });
    }
}
