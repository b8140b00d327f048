//! The section of BENCHMARKS.md: one table per share, the cold starts, the targets.

use std::fmt::Write as _;

use crate::cgroup::{CpuGroup, FULL_CPU_MB, PERIOD_US};
use crate::machine::{command_output, cpu_model};
use crate::stats::{ms, percentile};
use crate::{BASE, ROUNDS, Row, STEADY, Setup, Share, Sizes, Subject};

pub(crate) fn report(
    setup: &Setup,
    sizes: &Sizes,
    shares: &[Share],
    counted: &[(Subject, Result<f64, String>)],
) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "<!-- billed: written by apigw-local/benches/billed/; `make bench-billed` rewrites this section alone -->\n\
         ## Billed time under Lambda's CPU share\n\n\
         What Lambda would bill per invocation with the function's CPU limited as Lambda limits it: in proportion to \
         memory, one vCPU at 1,769 MB, so 7.2% of one at the Terraform default of 128 MB. Each function process runs \
         in a cgroup v1 `cpu` group of its own with a CFS quota of 100,000 µs × MB ÷ 1,769 per 100,000 µs period, \
         which it joins between fork and exec (the quota holds from its first instruction), and in a `cpuacct` group \
         that counts its CPU time. The Runtime API host, the collector (an OTLP HTTP/protobuf receiver that decodes \
         every export and answers at once: healthy) and the benchmark run unthrottled on the same machine. Each row \
         is one process sent the seed's POST back to back: {BASE} invocations unmeasured, then {} s measured, in \
         {ROUNDS} chunks interleaved with the other rows' chunks, each after {} ms unmeasured (a process that was idle \
         finds a fresh quota, which runs at full speed; {} ms of a stream back to back bring it back to the steady \
         state the chunk measures). Measured by time, not by count: the quota is granted per period, and a mean over \
         a few periods depends on where in them the run starts and stops.\n\n\
         - **billed**: event handed out → the function's next `GET /next`, flush included. The mean (total ÷ \
         invocations) is what the share costs; p50 and p99 show how it is spread (see below); **Lambda's bill** \
         rounds each invocation up to the next millisecond, as Lambda does, before taking the mean.\n\
         - **latency**: event handed out → response posted.\n\
         - **CPU**: the `cpuacct` group's usage over the measured invocations ÷ their number (background threads \
         included).\n\
         - **instructions**: callgrind, unthrottled (instructions do not depend on the quota; the same count in every \
         share's table): the count over {BASE} + {} invocations minus the count over {BASE}, ÷ {}, so start-up and \
         shutdown cancel out. `bootstrap` gets a 10 s flush deadline there, against valgrind's slowness. Counts \
         repeat from run to run where times on this shared machine do not.\n\
         - **throttled periods**: periods in which the group used up its quota and waited for the next \
         (`cpu.stat` `nr_throttled`).\n\
         - **spans/invocation**: spans the collector received (for the deployed defaults' row: (sub)segments a UDP \
         socket standing in for the X-Ray daemon received, nested ones included) ÷ invocations served, counted after \
         the function was stopped with SIGTERM (its last flush included): each exporter delivered everything. \
         `bootstrap` also delivers metrics (OTLP, or EMF lines on its stdout, a pipe the host reads as Lambda's log \
         capture does); the peers export spans only (their libraries have no metrics); the Python peer exports \
         nothing.\n\n\
         The peers: the same `handler::handle` (benches/peer/, a Cargo workspace of its own) traced by \
         `lambda_runtime`'s `OpenTelemetryLayer` (the `opentelemetry` feature) set up as the runtime's \
         `opentelemetry-tracing` example does (a batch span processor, `force_flush` in the layer's flush closure, \
         after the response is posted), and by `lambda-otel-lite` as its README shows (`init_telemetry`, \
         `create_traced_handler`, its default `sync` mode, which flushes before the handler returns, through a \
         `LambdaSpanProcessor`); both export OTLP HTTP/protobuf with `opentelemetry-otlp`'s blocking reqwest client. \
         The Python peer is invocation.rs's.\n\n\
         What the model leaves out:\n\n\
         - **Bursting within a period.** A CFS quota lets a process run at the machine's full speed until it has \
         used its share of the 100 ms period, then stops it until the period ends. Invocations that cost less than \
         the quota mostly run at full speed, and every so often one absorbs a stall of up to 100 ms minus the quota: \
         p50 shows full speed, p99 the stalls, the mean what a busy stream costs. How Lambda enforces the share (its \
         period, whether unused CPU carries over) is not documented; a shorter period gives shorter, more frequent \
         stalls for the same mean. Sparse traffic, where each invocation finds a fresh quota, would bill close to \
         the p50: back to back is the case where the share binds.\n\
         - **Init.** Lambda may give the init phase more CPU than the memory buys; here cold starts run under the \
         invocations' quota. A new group starts with its whole quota, so an init that needs less CPU than one \
         period's quota is not slowed at all, and one that needs more waits out whole periods.\n\
         - This machine's CPU, not Lambda's; no freezing between invocations; a collector on loopback (one further \
         away adds its round trips to every synchronous export); a process spawn, not a Firecracker start.\n",
        sizes.seconds,
        STEADY.as_millis(),
        STEADY.as_millis(),
        sizes.callgrind,
        sizes.callgrind,
    );
    let _ = writeln!(
        text,
        "- date: {}\n- machine: {} ({} cores), {}\n- toolchain: {}\n- commit: {}\n- command: `make bench-billed` \
         (BILLED_SECONDS={} BILLED_COLD_STARTS={} BILLED_CALLGRIND={} BILLED_SHARES={} BILLED_ROWS={})\n- {}\n",
        command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        command_output("uname", &["-sr"]),
        command_output("rustc", &["--version"]),
        command_output("git", &["describe", "--always", "--dirty", "--abbrev=7"]),
        sizes.seconds,
        sizes.cold_starts,
        sizes.callgrind,
        sizes.shares.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
        sizes.subjects.iter().map(|subject| subject.key()).collect::<Vec<_>>().join(","),
        command_output(&setup.valgrind, &["--version"]),
    );
    let instructions = |subject: Subject| counted.iter().find(|(counted, _)| *counted == subject).map(|(_, n)| n);
    for share in shares {
        let quota = CpuGroup::quota_us(share.memory_mb);
        let _ = writeln!(
            text,
            "### {} MB: {:.1}% of a vCPU (`cpu.cfs_quota_us` {quota} per {PERIOD_US})\n\n\
             | function | n | billed mean | p50 | p99 | mean vs off | Lambda's bill (whole ms), mean | latency p50 | \
             CPU ms/invocation | vs off | instructions/invocation | vs off | throttled periods | spans/invocation |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            share.memory_mb,
            100.0 * quota as f64 / PERIOD_US as f64,
        );
        let off = share.row(Subject::Off);
        let off_instructions = instructions(Subject::Off).and_then(|n| n.as_ref().ok()).copied();
        for row in &share.rows {
            let count = instructions(row.subject);
            let versus = |value: f64, base: Option<f64>, unit: &str| match base {
                Some(base) if row.subject != Subject::Off => {
                    format!("{:+.2}{unit} ({:.2}×)", value - base, value / base)
                }
                _ => "–".to_string(),
            };
            let _ = writeln!(
                text,
                "| {} | {} | {:.2} | {} | {} | {} | {:.2} | {} | {:.3} | {} | {} | {} | {} | {} |",
                setup.name(row.subject),
                row.billed.len(),
                row.billed_mean(),
                ms(percentile(&row.billed, 50.0)),
                ms(percentile(&row.billed, 99.0)),
                versus(row.billed_mean(), off.map(Row::billed_mean), " ms"),
                row.billed_rounded_mean(),
                ms(percentile(&row.latency, 50.0)),
                row.cpu_ms(),
                versus(row.cpu_ms(), off.map(Row::cpu_ms), " ms"),
                match count {
                    Some(Ok(n)) => format!("{n:.0}"),
                    Some(Err(error)) => format!("? ({error})"),
                    None => "–".to_string(),
                },
                match count {
                    Some(Ok(n)) => versus(*n / 1000.0, off_instructions.map(|n| n / 1000.0), "k"),
                    _ => "–".to_string(),
                },
                row.throttled,
                row.spans.map_or("–".to_string(), |(spans, served)| format!("{:.2}", spans as f64 / served as f64)),
            );
        }
        text.push('\n');
    }
    cold_table(&mut text, setup, sizes, shares);
    targets(&mut text, setup, shares);
    text.push_str("<!-- billed: end -->\n\n");
    text
}

fn cold_table(text: &mut String, setup: &Setup, sizes: &Sizes, shares: &[Share]) {
    let _ = writeln!(
        text,
        "### Cold start under each share\n\n\
         The function's program started → its first `GET /next` (init), and → its first response posted (the event \
         was queued before the spawn): {} spawns of each function per share, each in a new group, interleaved round \
         by round in a rotating order. Timed from the exec, not from the spawn as the Cold start section above: \
         moving a process into a cgroup v1 group waits for an RCU grace period, 1 to 25 ms on this machine, which \
         is the model's cost, not the function's.\n",
        sizes.cold_starts
    );
    let mut header = "| function |".to_string();
    let mut rule = "|---|".to_string();
    for share in shares {
        let _ = write!(header, " {} MB: → `GET /next` p50 | → response p50 | p95 |", share.memory_mb);
        rule.push_str("---:|---:|---:|");
    }
    let _ = writeln!(text, "{header}\n{rule}");
    for &subject in &sizes.subjects {
        let _ = write!(text, "| {} |", setup.name(subject));
        for cold in shares.iter().filter_map(|share| share.cold(subject)) {
            let _ = write!(
                text,
                " {} | {} | {} |",
                ms(percentile(&cold.to_next, 50.0)),
                ms(percentile(&cold.to_response, 50.0)),
                ms(percentile(&cold.to_response, 95.0)),
            );
        }
        text.push('\n');
    }
    text.push('\n');
}

fn targets(text: &mut String, setup: &Setup, shares: &[Share]) {
    let _ = writeln!(text, "### Targets\n\n| target | measured | met? |\n|---|---:|---|");
    // `unit` is that of `value` and `limit` ("ms" or "×").
    let mut verdict = |target: String, measured: String, value: f64, limit: f64, below: bool, unit: &str| {
        let met = if below { value < limit } else { value <= limit };
        let met = if met {
            "yes".to_string()
        } else {
            format!("**no**: {:.2}{unit} over ({:.2}× the target)", value - limit, value / limit)
        };
        let _ = writeln!(text, "| {target} | {measured} | {met} |");
    };
    for share in shares {
        let mb = share.memory_mb;
        let (Some(off), Some(on)) = (share.row(Subject::Off), share.row(Subject::On)) else { continue };
        let limit = match mb {
            128 => Some(1.0),
            FULL_CPU_MB => Some(0.3),
            _ => None,
        };
        // The target holds for both ways of delivering: OTLP, and the deployed defaults (X-Ray daemon, EMF lines).
        for (subject, what) in
            [(Subject::On, "telemetry on adds"), (Subject::XRayEmf, "the deployed defaults (X-Ray, EMF) add")]
        {
            let (Some(limit), Some(row)) = (limit, share.row(subject)) else { continue };
            let added = row.billed_mean() - off.billed_mean();
            verdict(
                format!("{what} ≤ {limit} ms of billed time per invocation at {mb} MB (mean, vs off)"),
                format!("{added:+.2} ms ({:.2} vs {:.2} ms)", row.billed_mean(), off.billed_mean()),
                added,
                limit,
                false,
                " ms",
            );
        }
        for peer in [Subject::RuntimeLayer, Subject::OtelLite] {
            let Some(theirs) = share.row(peer) else { continue };
            verdict(
                format!("telemetry on bills less than the {} at {mb} MB (mean)", setup.name(peer)),
                format!("{:.2} vs {:.2} ms", on.billed_mean(), theirs.billed_mean()),
                on.billed_mean(),
                theirs.billed_mean(),
                true,
                " ms",
            );
        }
        let (Some(cold_off), Some(cold_on)) = (share.cold(Subject::Off), share.cold(Subject::On)) else { continue };
        let (on_p50, off_p50) = (percentile(&cold_on.to_response, 50.0), percentile(&cold_off.to_response, 50.0));
        let ratio = on_p50.as_secs_f64() / off_p50.as_secs_f64();
        verdict(
            format!("cold start, telemetry on ≤ 1.2× off at {mb} MB (program start → first response, p50)"),
            format!("{ratio:.2}× ({} vs {} ms)", ms(on_p50), ms(off_p50)),
            ratio,
            1.2,
            false,
            "×",
        );
        verdict(
            format!("cold start, telemetry on < 5 ms at {mb} MB (program start → first response, p50)"),
            format!("{} ms", ms(on_p50)),
            on_p50.as_secs_f64() * 1000.0,
            5.0,
            true,
            " ms",
        );
    }
    text.push('\n');
}
