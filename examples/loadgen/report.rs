//! The report printed after every server ran: the table, the targets, the ratios.

use crate::args::{Args, Scenario};
use crate::drive::Run;
use crate::model::Population;

fn targets(ours: &Run, reference: Option<&Run>) {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let mut lines = Vec::new();
    for m in &ours.measured {
        let limit = if m.scenario == Scenario::UserTelemetry {
            3.0
        } else {
            1.0
        };
        if let Some(cpu) = m.cpu_us_per_delivery {
            lines.push(format!(
                "{} CPU/delivery {cpu:.2} µs ≤ {limit} µs: {}",
                m.scenario.name(),
                verdict(cpu <= limit)
            ));
        }
        lines.push(format!(
            "{} p99 {:.1} ms < 50 ms at {:.0} deliveries/s (target rate 100000): {}",
            m.scenario.name(),
            m.p99_ms,
            m.delivery_rate,
            verdict(m.p99_ms < 50.0 && m.delivery_rate >= 95_000.0)
        ));
        let theirs = reference
            .and_then(|r| r.measured.iter().find(|r| r.scenario == m.scenario))
            .and_then(|r| r.cpu_us_per_delivery);
        if let Some((theirs, ours)) = theirs.zip(m.cpu_us_per_delivery) {
            lines.push(format!(
                "{} CPU/delivery {:.1}× less than the reference ≥ 5×: {}",
                m.scenario.name(),
                theirs / ours,
                verdict(theirs / ours >= 5.0)
            ));
        }
    }
    if let Some(rss) = ours.rss_kib_per_connection {
        lines.push(format!(
            "RSS per idle connection {rss:.1} KiB ≤ 12 KiB: {}",
            verdict(rss <= 12.0)
        ));
    }
    println!("targets ({}):", ours.label);
    for line in lines {
        println!("  {line}");
    }
}

pub fn percent(value: Option<f64>) -> String {
    value.map_or("?".into(), |v| format!("{v:.0}%"))
}

pub fn report(args: &Args, population: &Population, runs: &[Run]) {
    println!();
    println!(
        "== load: {} connections ({} admins, {} users × 2 tabs), {} s per scenario, target {} deliveries/s ==",
        population.connections(),
        population.admins,
        population.users,
        args.duration,
        args.rate
    );
    println!(
        "{:<8} {:<16} {:>10} {:>13} {:>8} {:>8} {:>16} {:>13} {:>12} {:>14}",
        "server",
        "scenario",
        "events/s",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "CPU µs/delivery",
        "RSS KiB/conn",
        "exactly-once",
        "srv run/wait"
    );
    for run in runs {
        if let Some(error) = &run.error {
            println!(
                "{:<8} failed: {}",
                run.label,
                error.lines().next().unwrap_or("")
            );
        }
        for m in &run.measured {
            println!(
                "{:<8} {:<16} {:>10.0} {:>13.0} {:>8.2} {:>8.2} {:>16} {:>13} {:>12} {:>14}",
                run.label,
                m.scenario.name(),
                m.event_rate,
                m.delivery_rate,
                m.p50_ms,
                m.p99_ms,
                m.cpu_us_per_delivery
                    .map_or("?".into(), |cpu| format!("{cpu:.3}")),
                run.rss_kib_per_connection
                    .map_or("?".into(), |rss| format!("{rss:.1}")),
                if m.violations == 0 && m.http_failures == 0 && run.violations == 0 {
                    "ok".to_owned()
                } else {
                    format!("FAIL ({})", m.violations + m.http_failures)
                },
                m.server_run_wait_percent
                    .map_or("?".into(), |(run, wait)| format!("{run:.0}%/{wait:.0}%"))
            );
        }
    }
    if let Some(ours) = runs.first().filter(|run| run.error.is_none()) {
        targets(ours, runs.get(1));
    }
    if let [ours, reference, ..] = runs {
        ratios(ours, reference);
    }
}

/// The reference's CPU per delivery over ours, per scenario both measured.
fn ratios(ours: &Run, reference: &Run) {
    let ratios: Vec<String> = ours
        .measured
        .iter()
        .filter_map(|m| {
            let theirs = reference
                .measured
                .iter()
                .find(|r| r.scenario == m.scenario)?;
            let ratio = theirs.cpu_us_per_delivery? / m.cpu_us_per_delivery?;
            Some(format!("{} {ratio:.1}×", m.scenario.name()))
        })
        .collect();
    println!(
        "ratio ({} CPU per delivery / {}): {}",
        reference.label,
        ours.label,
        ratios.join(", ")
    );
}
