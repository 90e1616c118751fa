//! html report format.

use crate::Report;

pub fn render(report: &Report) -> String {
    let _ = report;
    String::new()
}
