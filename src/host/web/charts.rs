//! What works, as charts: reply rate and meetings by week, the funnel from drafted to meeting,
//! outcomes by type and per sender. Computed here from the stored drafts and outcomes and drawn
//! as inline SVG (no script, no external asset), each chart followed by its numbers as a table.

use super::esc;
use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Utc};
use salesagent_core::model::{Draft, DraftId, DraftStatus, Outcome, OutcomeType};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

/// One week's sends and their results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Week {
    /// Monday of the ISO week.
    pub(crate) start: Option<NaiveDate>,
    /// Drafts sent in the week.
    pub(crate) sent: u64,
    /// Of those, how many got a reply.
    pub(crate) replied: u64,
    /// Meetings booked or held in the week.
    pub(crate) meetings: u64,
}

/// One sender's sends and their results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SenderRow {
    /// The mailbox.
    pub(crate) sender: String,
    /// Drafts sent.
    pub(crate) sent: u64,
    /// Of those, how many got a reply.
    pub(crate) replied: u64,
    /// Meetings with contacts this sender wrote to.
    pub(crate) meetings: u64,
}

/// Everything the charts page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Charts {
    /// Drafted, approved, sent, replied, meeting.
    pub(crate) funnel: Vec<(&'static str, u64)>,
    /// The last weeks with sends or meetings, oldest first.
    pub(crate) weeks: Vec<Week>,
    /// Outcome counts by type (types that occurred), most first.
    pub(crate) by_type: Vec<(&'static str, u64)>,
    /// Per sender, most sends first.
    pub(crate) senders: Vec<SenderRow>,
}

/// Weeks shown at most.
const WEEKS: usize = 12;

fn is_reply(t: OutcomeType) -> bool {
    matches!(
        t,
        OutcomeType::EmailReplied | OutcomeType::PositiveResponse | OutcomeType::NegativeResponse
    )
}

fn is_meeting(t: OutcomeType) -> bool {
    matches!(t, OutcomeType::MeetingBooked | OutcomeType::MeetingHeld)
}

fn monday(at: DateTime<Utc>) -> NaiveDate {
    let d = at.date_naive();
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        #[allow(clippy::cast_precision_loss)]
        let r = part as f64 / whole as f64;
        r
    }
}

/// Computes the charts from every draft and outcome. A sent draft counts as replied when an
/// outcome names it, or concerns its contact and came after the send; meetings likewise.
pub(crate) fn compute(drafts: &[Draft], outcomes: &[Outcome]) -> Charts {
    let sent: Vec<&Draft> = drafts.iter().filter(|d| d.sent_at.is_some()).collect();
    let approved = drafts
        .iter()
        .filter(|d| {
            matches!(
                d.status,
                DraftStatus::Approved
                    | DraftStatus::Sending
                    | DraftStatus::Sent
                    | DraftStatus::Drafted
            ) || d.sent_at.is_some()
        })
        .count() as u64;
    // Which sent drafts a reply / meeting belongs to.
    let by_id: HashMap<DraftId, &Draft> = sent.iter().map(|d| (d.id, *d)).collect();
    let attribute = |o: &Outcome| -> Option<DraftId> {
        if let Some(id) = o.draft_id
            && by_id.contains_key(&id)
        {
            return Some(id);
        }
        sent.iter()
            .filter(|d| {
                d.contact_email == o.contact_email && d.sent_at.is_some_and(|s| s <= o.occurred_at)
            })
            .max_by_key(|d| d.sent_at)
            .map(|d| d.id)
    };
    let mut replied: HashSet<DraftId> = HashSet::new();
    let mut met: HashSet<DraftId> = HashSet::new();
    let mut meeting_weeks: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    let mut types: HashMap<OutcomeType, u64> = HashMap::new();
    for o in outcomes {
        *types.entry(o.outcome_type).or_default() += 1;
        if is_reply(o.outcome_type)
            && let Some(id) = attribute(o)
        {
            replied.insert(id);
        }
        if is_meeting(o.outcome_type) {
            *meeting_weeks.entry(monday(o.occurred_at)).or_default() += 1;
            if let Some(id) = attribute(o) {
                met.insert(id);
            }
        }
    }
    let funnel = vec![
        ("drafted", drafts.len() as u64),
        ("approved", approved),
        ("sent", sent.len() as u64),
        ("replied", replied.len() as u64),
        ("meeting", met.len() as u64),
    ];
    let mut weeks: BTreeMap<NaiveDate, Week> = BTreeMap::new();
    for d in &sent {
        if let Some(at) = d.sent_at {
            let w = weeks.entry(monday(at)).or_default();
            w.sent += 1;
            if replied.contains(&d.id) {
                w.replied += 1;
            }
        }
    }
    for (start, n) in meeting_weeks {
        weeks.entry(start).or_default().meetings += n;
    }
    let mut weeks: Vec<Week> = weeks
        .into_iter()
        .map(|(start, w)| Week {
            start: Some(start),
            ..w
        })
        .collect();
    if weeks.len() > WEEKS {
        weeks.drain(..weeks.len() - WEEKS);
    }
    let mut by_type: Vec<(&'static str, u64)> =
        types.into_iter().map(|(t, n)| (t.as_str(), n)).collect();
    by_type.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut senders: BTreeMap<String, SenderRow> = BTreeMap::new();
    for d in &sent {
        let row = senders
            .entry(d.sender.to_string())
            .or_insert_with(|| SenderRow {
                sender: d.sender.to_string(),
                ..SenderRow::default()
            });
        row.sent += 1;
        row.replied += u64::from(replied.contains(&d.id));
        row.meetings += u64::from(met.contains(&d.id));
    }
    let mut senders: Vec<SenderRow> = senders.into_values().collect();
    senders.sort_by(|a, b| b.sent.cmp(&a.sent).then(a.sender.cmp(&b.sender)));
    Charts {
        funnel,
        weeks,
        by_type,
        senders,
    }
}

/// A horizontal bar chart: one bar per `(label, value, shown)`.
fn bars(id: &str, title: &str, rows: &[(String, f64, String)], color: &str) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let row_h = 26;
    let height = rows.len().max(1) * row_h + 10;
    let mut svg = format!(
        "<svg id=\"{id}\" class=\"chart\" role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 640 {height}\" width=\"640\" height=\"{height}\">\
<title>{t}</title>",
        t = esc(title)
    );
    for (i, (label, value, shown)) in rows.iter().enumerate() {
        let y = i * row_h + 5;
        let w = if max > 0.0 { value / max * 300.0 } else { 0.0 };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{ty}\" font-size=\"13\">{l}</text>\
<rect x=\"170\" y=\"{y}\" width=\"{w:.1}\" height=\"18\" fill=\"{color}\"></rect>\
<text x=\"{tx:.1}\" y=\"{ty}\" font-size=\"13\">{s}</text>",
            ty = y + 14,
            l = esc(label),
            tx = 176.0 + w,
            s = esc(shown),
        );
    }
    if rows.is_empty() {
        svg.push_str("<text x=\"0\" y=\"20\" font-size=\"13\">no data yet</text>");
    }
    svg.push_str("</svg>");
    svg
}

/// Columns per week: reply rate (bar) and meetings (dot with its count).
fn weekly(weeks: &[Week]) -> String {
    let col = 48;
    let width = (weeks.len().max(1) * col + 60).max(320);
    let mut svg = format!(
        "<svg id=\"chart-weekly\" class=\"chart\" role=\"img\" aria-label=\"Reply rate and meetings by week\" viewBox=\"0 0 {width} 230\" width=\"{width}\" height=\"230\">\
<title>Reply rate and meetings by week</title>\
<line x1=\"40\" y1=\"180\" x2=\"{width}\" y2=\"180\" stroke=\"#99a\"></line>\
<text x=\"0\" y=\"34\" font-size=\"11\">100%</text><text x=\"0\" y=\"16\" font-size=\"11\">meet.</text><text x=\"0\" y=\"184\" font-size=\"11\">0%</text>"
    );
    let max_meet = weeks.iter().map(|w| w.meetings).max().unwrap_or(0).max(1);
    for (i, w) in weeks.iter().enumerate() {
        let x = 44 + i * col;
        let r = rate(w.replied, w.sent);
        let h = r * 150.0;
        // Meetings are counts, not a rate: a row of dots above the bars (size by count, the
        // number beside it), so they never read against the percentage axis.
        #[allow(clippy::cast_precision_loss)]
        let mr = if w.meetings == 0 {
            0.0
        } else {
            3.0 + 4.0 * (w.meetings as f64 / max_meet as f64)
        };
        let label = w
            .start
            .map(|d| d.format("%m-%d").to_string())
            .unwrap_or_default();
        let _ = write!(
            svg,
            "<rect class=\"week\" x=\"{x}\" y=\"{y:.1}\" width=\"30\" height=\"{h:.1}\" fill=\"#4a78c2\"><title>{r:.0}% replied of {sent} sent</title></rect>\
<text x=\"{x}\" y=\"{ry:.1}\" font-size=\"11\">{pct:.0}%</text>\
<circle cx=\"{cx}\" cy=\"12\" r=\"{mr:.1}\" fill=\"#d9822b\"><title>{m} meetings</title></circle><text x=\"{mx}\" y=\"16\" font-size=\"11\">{m}</text>\
<text x=\"{x}\" y=\"198\" font-size=\"11\">{label}</text>",
            y = 180.0 - h,
            r = r * 100.0,
            sent = w.sent,
            ry = 176.0 - h,
            pct = r * 100.0,
            cx = x + 8,
            mx = x + 17,
            m = w.meetings,
        );
    }
    svg.push_str(
        "<rect x=\"44\" y=\"212\" width=\"12\" height=\"12\" fill=\"#4a78c2\"></rect><text x=\"60\" y=\"222\" font-size=\"11\">reply rate</text>\
<circle cx=\"150\" cy=\"218\" r=\"5\" fill=\"#d9822b\"></circle><text x=\"160\" y=\"222\" font-size=\"11\">meetings (count, top row)</text></svg>",
    );
    svg
}

fn pct(part: u64, whole: u64) -> String {
    format!("{:.0}%", rate(part, whole) * 100.0)
}

/// The charts page's `<main>` content.
pub(crate) fn render(c: &Charts) -> String {
    let mut out = String::from("<h1>What works</h1>");
    // Weekly.
    out.push_str("<section><h2>Reply rate and meetings by week</h2>");
    out.push_str(&weekly(&c.weeks));
    out.push_str("<table id=\"table-weekly\"><tr><th>Week of</th><th>Sent</th><th>Replied</th><th>Reply rate</th><th>Meetings</th></tr>");
    for w in &c.weeks {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            w.start.map(|d| d.to_string()).unwrap_or_default(),
            w.sent,
            w.replied,
            pct(w.replied, w.sent),
            w.meetings
        );
    }
    out.push_str("</table></section>");
    // Funnel.
    let first = c.funnel.first().map_or(0, |f| f.1);
    let rows: Vec<(String, f64, String)> = c
        .funnel
        .iter()
        .map(|(l, n)| {
            #[allow(clippy::cast_precision_loss)]
            let v = *n as f64;
            ((*l).to_owned(), v, format!("{n} ({})", pct(*n, first)))
        })
        .collect();
    out.push_str("<section><h2>Funnel</h2>");
    out.push_str(&bars(
        "chart-funnel",
        "Funnel: drafted to meeting",
        &rows,
        "#3c9a6b",
    ));
    out.push_str(
        "<table id=\"table-funnel\"><tr><th>Stage</th><th>Drafts</th><th>Of drafted</th></tr>",
    );
    for (l, n) in &c.funnel {
        let _ = write!(
            out,
            "<tr><td>{l}</td><td>{n}</td><td>{}</td></tr>",
            pct(*n, first)
        );
    }
    out.push_str("</table></section>");
    // By type.
    let rows: Vec<(String, f64, String)> = c
        .by_type
        .iter()
        .map(|(t, n)| {
            #[allow(clippy::cast_precision_loss)]
            let v = *n as f64;
            ((*t).replace('_', " "), v, n.to_string())
        })
        .collect();
    out.push_str("<section><h2>Outcomes by type</h2>");
    out.push_str(&bars("chart-types", "Outcomes by type", &rows, "#8a63c2"));
    out.push_str("<table id=\"table-types\"><tr><th>Outcome</th><th>Count</th></tr>");
    for (t, n) in &c.by_type {
        let _ = write!(out, "<tr><td>{t}</td><td>{n}</td></tr>");
    }
    out.push_str("</table></section>");
    // Per sender.
    let rows: Vec<(String, f64, String)> = c
        .senders
        .iter()
        .map(|s| {
            (
                s.sender.clone(),
                rate(s.replied, s.sent) * 100.0,
                format!("{} replied of {} sent", pct(s.replied, s.sent), s.sent),
            )
        })
        .collect();
    out.push_str("<section><h2>Per sender</h2>");
    out.push_str(&bars(
        "chart-senders",
        "Reply rate per sender",
        &rows,
        "#4a78c2",
    ));
    out.push_str("<table id=\"table-senders\"><tr><th>Sender</th><th>Sent</th><th>Replied</th><th>Reply rate</th><th>Meetings</th></tr>");
    for s in &c.senders {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.sender),
            s.sent,
            s.replied,
            pct(s.replied, s.sent),
            s.meetings
        );
    }
    out.push_str("</table></section>");
    out
}
