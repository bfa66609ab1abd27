//! The report printed after every server ran: the servers side by side per scenario,
//! then the ratios of ours to each reference and the targets against socketioxide.

use crate::args::{Args, EmitMode, Scenario};
use crate::drive::{Measured, Run};
use crate::model::Population;

pub fn percent(value: Option<f64>) -> String {
    value.map_or("?".into(), |v| format!("{v:.0}%"))
}

pub fn report(args: &Args, population: &Population, runs: &[Run]) {
    println!();
    println!(
        "== load: {} connections ({} admins, {} users × 2 tabs), emits {}, paced scenarios {} s at {} deliveries/s ==",
        population.connections(),
        population.admins,
        population.users,
        match args.emit {
            EmitMode::Api => "through the HTTP API",
            EmitMode::InProcess => "in-process",
        },
        args.duration,
        args.rate
    );
    for run in runs {
        if let Some(error) = &run.error {
            let first = error.lines().next().unwrap_or("");
            println!("{} failed: {first}", run.label);
        }
    }
    print!("{:<34}", "scenario / measure");
    for run in runs {
        print!("{:>WIDTH$}", run.label);
    }
    println!();
    for &scenario in &args.scenario {
        print_scenario(scenario, runs);
    }
    print!("{:<34}", "RSS KiB per idle connection");
    for run in runs {
        let rss = run.rss_kib_per_connection;
        print!(
            "{:>WIDTH$}",
            rss.map_or("?".into(), |rss| format!("{rss:.1}"))
        );
    }
    println!();
    if let [ours, references @ ..] = runs {
        for reference in references {
            ratios(ours, reference);
        }
        if let Some(socketioxide) = references.iter().find(|r| r.label == "socketioxide") {
            targets(ours, socketioxide);
        }
    }
}

/// Width of a server's column.
const WIDTH: usize = 22;

/// A row of a scenario's block: its name and how a server's cell reads.
type Row = (&'static str, fn(&Measured) -> String);

const ROWS: [Row; 6] = [
    ("  CPU µs per delivery", |m| {
        m.cpu_us_per_delivery
            .map_or("?".into(), |cpu| format!("{cpu:.2}"))
    }),
    ("  p50 / p99 ms", |m| {
        format!("{:.2} / {:.1}", m.p50_ms, m.p99_ms)
    }),
    ("  deliveries/s", |m| format!("{:.0}", m.delivery_rate)),
    ("  delivered / expected", |m| {
        format!("{} / {}", m.delivered, m.check.expected)
    }),
    ("  lost/dup/misdirected/refused", |m| {
        let c = &m.check;
        format!(
            "{}/{}/{}/{}",
            c.missing, c.duplicates, c.misdirected, m.emit_errors
        )
    }),
    ("  conns lost; srv run/wait", |m| {
        let sched = m
            .server_run_wait_percent
            .map_or("?".into(), |(run, wait)| format!("{run:.0}%/{wait:.0}%"));
        format!("{}; {sched}", m.connections_lost)
    }),
];

/// One scenario's block: a heading, then each row with a column per server.
fn print_scenario(scenario: Scenario, runs: &[Run]) {
    let cells: Vec<Option<&Measured>> = runs.iter().map(|run| find(run, scenario)).collect();
    let Some(first) = cells.iter().flatten().next() else {
        return;
    };
    println!(
        "{} ({} events, {:.0}/s)",
        scenario.name(),
        first.events,
        first.event_rate
    );
    for (name, cell) in ROWS {
        print!("{name:<34}");
        for measured in &cells {
            print!("{:>WIDTH$}", measured.map_or("-".into(), cell));
        }
        println!();
    }
}

fn find(run: &Run, scenario: Scenario) -> Option<&Measured> {
    run.measured.iter().find(|m| m.scenario == scenario)
}

/// Our CPU per delivery over the reference's (below 1: we use less), per scenario both
/// measured, and our burst throughput over theirs.
fn ratios(ours: &Run, reference: &Run) {
    let ratios: Vec<String> = ours
        .measured
        .iter()
        .filter_map(|m| {
            let theirs = find(reference, m.scenario)?;
            let cpu = m.cpu_us_per_delivery? / theirs.cpu_us_per_delivery?;
            let throughput = if m.scenario.is_burst() {
                format!(
                    ", deliveries/s {:.2}×",
                    m.delivery_rate / theirs.delivery_rate
                )
            } else {
                String::new()
            };
            Some(format!("{} CPU {cpu:.2}×{throughput}", m.scenario.name()))
        })
        .collect();
    println!(
        "ours / {} (same run): {}",
        reference.label,
        ratios.join("; ")
    );
}

/// Issue 17's targets against socketioxide, reported (never failed).
fn targets(ours: &Run, peer: &Run) {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let mut lines = Vec::new();
    let cpu = |scenario| {
        let (m, p) = (find(ours, scenario)?, find(peer, scenario)?);
        Some((m.cpu_us_per_delivery? / p.cpu_us_per_delivery?, m, p))
    };
    let limits = [
        (Scenario::UserTelemetry, 0.75),
        (Scenario::AdminBroadcast, 0.8),
        (Scenario::All, 0.9),
    ];
    for (scenario, limit) in limits {
        if let Some((ratio, m, p)) = cpu(scenario) {
            lines.push(format!(
                "{} CPU per delivery {ratio:.2}× socketioxide's ≤ {limit}×: {}",
                scenario.name(),
                verdict(ratio <= limit)
            ));
            if scenario == Scenario::AdminBroadcast {
                let met = m.p50_ms <= p.p50_ms;
                lines.push(format!(
                    "admin-broadcast p50 {:.2} ms ≤ socketioxide's {:.2} ms: {}",
                    m.p50_ms,
                    p.p50_ms,
                    verdict(met)
                ));
            }
            if scenario == Scenario::All {
                let ratio = m.p99_ms / p.p99_ms;
                lines.push(format!(
                    "all p99 {ratio:.2}× socketioxide's ≤ 0.8×: {}",
                    verdict(ratio <= 0.8)
                ));
            }
        }
    }
    if let Some((m, p)) = find(ours, Scenario::UserBurst).zip(find(peer, Scenario::UserBurst)) {
        let ratio = m.delivery_rate / p.delivery_rate;
        lines.push(format!(
            "user-burst deliveries/s {ratio:.2}× socketioxide's ≥ 1×: {}",
            verdict(ratio >= 1.0)
        ));
    }
    if let Some(rss) = ours.rss_kib_per_connection {
        lines.push(format!(
            "RSS per idle connection {rss:.1} KiB ≤ 8.5 KiB: {}",
            verdict(rss <= 8.5)
        ));
    }
    println!("targets (issue 17, against socketioxide in this run; every figure exact):");
    for line in lines {
        println!("  {line}");
    }
}
