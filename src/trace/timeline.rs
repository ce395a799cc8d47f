//! A timeline of task activity, drawn as text or SVG.
//!
//! Each row is one task: from its spawn to its end it is *waiting*, except while the loop
//! polls it, when it is *running*. Sequential requests (lesson 01) draw a staircase;
//! concurrent ones (lesson 02) draw overlapping bars. The rendering reads only the recorded
//! numbers, so the same recording always draws the same picture (the tests rely on it).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::task::TaskId;

/// One task's life on the timeline; times are offsets from the timeline's start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimelineRow {
    /// What the row is called: `task#3 "fetch google"`, or any text you choose.
    pub label: String,
    /// When the task was spawned.
    pub start: Duration,
    /// When it ended (`None`: still running when the timeline was taken).
    pub end: Option<Duration>,
    /// When it was running (polled), as `(from, to)` pairs.
    pub running: Vec<(Duration, Duration)>,
}

/// Task activity over time. The loop records one if asked
/// ([`Builder::record_timeline`](crate::event_loop::Builder::record_timeline)); you can also
/// build one by hand, as lesson 01 does for its blocking requests.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use miniloop::trace::Timeline;
///
/// let ms = Duration::from_millis;
/// let mut timeline = Timeline::default();
/// timeline.add_row("first", ms(0), ms(40), vec![(ms(0), ms(40))]);
/// timeline.add_row("second", ms(40), ms(80), vec![(ms(40), ms(80))]);
/// assert_eq!(
///     timeline.render_text(8),
///     "first  |████    | 0ms-40ms\nsecond |    ████| 40ms-80ms\n"
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    rows: Vec<TimelineRow>,
    /// The instant offsets are measured from (set by the first recorded event).
    origin: Option<Instant>,
    /// Row index of each recorded task, by id. A map: every poll looks its task up, and a
    /// search through a list made recording quadratic in the number of tasks (60 000 tasks
    /// took 1.09 s to record instead of 19 ms).
    task_rows: HashMap<TaskId, usize>,
}

impl Timeline {
    /// Adds a row by hand: a task that lived from `start` to `end` and ran during `running`.
    pub fn add_row(
        &mut self,
        label: impl Into<String>,
        start: Duration,
        end: Duration,
        running: Vec<(Duration, Duration)>,
    ) {
        self.rows.push(TimelineRow {
            label: label.into(),
            start,
            end: Some(end),
            running,
        });
    }

    /// The rows, in spawn order.
    pub fn rows(&self) -> &[TimelineRow] {
        &self.rows
    }

    fn offset(&mut self, at: Instant) -> Duration {
        let origin = *self.origin.get_or_insert(at);
        at.saturating_duration_since(origin)
    }

    fn row_of(&mut self, id: TaskId) -> Option<&mut TimelineRow> {
        let index = *self.task_rows.get(&id)?;
        self.rows.get_mut(index)
    }

    pub(crate) fn spawned(&mut self, id: TaskId, label: String, at: Instant) {
        let start = self.offset(at);
        self.task_rows.insert(id, self.rows.len());
        self.rows.push(TimelineRow {
            label,
            start,
            end: None,
            running: Vec::new(),
        });
    }

    pub(crate) fn ran(&mut self, id: TaskId, from: Instant, to: Instant) {
        let (from, to) = (self.offset(from), self.offset(to));
        if let Some(row) = self.row_of(id) {
            row.running.push((from, to));
        }
    }

    pub(crate) fn ended(&mut self, id: TaskId, at: Instant) {
        let end = self.offset(at);
        if let Some(row) = self.row_of(id) {
            row.end = Some(end);
        }
    }

    /// The latest time on the timeline.
    fn span(&self) -> Duration {
        self.rows
            .iter()
            .flat_map(|row| {
                row.end
                    .into_iter()
                    .chain(row.running.iter().map(|(_, to)| *to))
                    .chain([row.start])
            })
            .max()
            .unwrap_or_default()
    }

    /// Draws the timeline as text, `width` columns wide: `█` running, `·` waiting.
    pub fn render_text(&self, width: usize) -> String {
        let width = width.max(1);
        let span = self.span().max(Duration::from_nanos(1));
        let column = |at: Duration| {
            ((at.as_nanos() * width as u128) / span.as_nanos()).min(width as u128 - 1) as usize
        };
        let label_width = self
            .rows
            .iter()
            .map(|row| row.label.chars().count())
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        for row in &self.rows {
            let end = row.end.unwrap_or(span);
            let mut cells = vec![' '; width];
            // Half-open columns: a row ending exactly at a column's start does not fill it.
            let first = column(row.start);
            let last = if end > row.start {
                column(end - Duration::from_nanos(1))
            } else {
                first
            };
            for cell in &mut cells[first..=last] {
                *cell = '·';
            }
            for (from, to) in &row.running {
                let until = if to > from {
                    *to - Duration::from_nanos(1)
                } else {
                    *from
                };
                for cell in &mut cells[column(*from)..=column(until)] {
                    *cell = '█';
                }
            }
            let bar: String = cells.into_iter().collect();
            let _ = writeln!(
                text,
                "{:<label_width$} |{bar}| {}-{}",
                row.label,
                format_millis(row.start),
                format_millis(end)
            );
        }
        text
    }

    /// Draws the timeline as an SVG picture: grey bars waiting, dark bars running.
    pub fn render_svg(&self) -> String {
        const LABEL_WIDTH: f64 = 200.0;
        const CHART_WIDTH: f64 = 600.0;
        const ROW_HEIGHT: f64 = 24.0;
        let span = self.span().max(Duration::from_nanos(1)).as_secs_f64();
        let x = |at: Duration| LABEL_WIDTH + at.as_secs_f64() / span * CHART_WIDTH;
        let height = ROW_HEIGHT * (self.rows.len() as f64 + 1.5);
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{height:.0}" font-family="monospace" font-size="12">"#,
            LABEL_WIDTH + CHART_WIDTH + 20.0
        );
        for (index, row) in self.rows.iter().enumerate() {
            let top = ROW_HEIGHT * index as f64 + 4.0;
            let end = row.end.unwrap_or(self.span());
            let _ = writeln!(
                svg,
                r#"  <text x="4" y="{:.1}">{}</text>"#,
                top + 14.0,
                escape(&row.label)
            );
            let _ = writeln!(
                svg,
                r##"  <rect x="{:.1}" y="{top:.1}" width="{:.1}" height="18" fill="#d0d7de"/>"##,
                x(row.start),
                (x(end) - x(row.start)).max(1.0)
            );
            for (from, to) in &row.running {
                let _ = writeln!(
                    svg,
                    r##"  <rect x="{:.1}" y="{top:.1}" width="{:.1}" height="18" fill="#1f6feb"/>"##,
                    x(*from),
                    (x(*to) - x(*from)).max(1.0)
                );
            }
        }
        let axis = ROW_HEIGHT * self.rows.len() as f64 + 18.0;
        let _ = writeln!(
            svg,
            r#"  <text x="{LABEL_WIDTH:.1}" y="{axis:.1}">0ms</text>"#
        );
        let _ = writeln!(
            svg,
            r#"  <text x="{:.1}" y="{axis:.1}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH + CHART_WIDTH,
            format_millis(self.span())
        );
        svg.push_str("</svg>\n");
        svg
    }
}

fn format_millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// Three concurrent tasks: short polls at the start and end of each wait.
    fn concurrent() -> Timeline {
        let mut timeline = Timeline::default();
        timeline.add_row("a", ms(0), ms(100), vec![(ms(0), ms(1)), (ms(99), ms(100))]);
        timeline.add_row("b", ms(0), ms(50), vec![(ms(0), ms(1)), (ms(49), ms(50))]);
        timeline.add_row("c", ms(0), ms(75), vec![(ms(0), ms(1)), (ms(74), ms(75))]);
        timeline
    }

    #[test]
    fn concurrent_tasks_draw_overlapping_bars() {
        assert_eq!(
            concurrent().render_text(10),
            "a |█········█| 0ms-100ms\n\
             b |█···█     | 0ms-50ms\n\
             c |█······█  | 0ms-75ms\n"
        );
    }

    #[test]
    fn the_svg_has_one_waiting_bar_per_row_and_one_bar_per_poll() {
        let svg = concurrent().render_svg();
        assert_eq!(svg.matches("#d0d7de").count(), 3);
        assert_eq!(svg.matches("#1f6feb").count(), 6);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains(r#"<text x="4" y="18.0">a</text>"#), "{svg}");
    }
}
