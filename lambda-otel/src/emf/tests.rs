use std::io;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::*;

#[path = "../../tests/emf_spec/mod.rs"]
mod spec;

/// 2026-01-02T03:04:05.678Z, inside a minute.
const T0: u64 = 1_767_323_045_678;

/// An output that keeps each `write` call apart, to see that each line is written whole by one call.
#[derive(Clone, Default)]
struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

impl Write for Writes {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Writes {
    /// The lines written since the last call, each checked to be one whole line from one write, and valid EMF.
    fn take(&self) -> Vec<Value> {
        let writes = std::mem::take(&mut *self.0.lock().unwrap());
        writes
            .into_iter()
            .map(|write| {
                let text = String::from_utf8(write).unwrap();
                let line = text.strip_suffix('\n').unwrap_or_else(|| panic!("one write, one whole line: {text:?}"));
                assert!(!line.contains('\n'), "one line per write: {text:?}");
                let violations = spec::violations(line);
                assert!(violations.is_empty(), "{line}\n{violations:#?}");
                serde_json::from_str(line).unwrap()
            })
            .collect()
    }
}

fn emf() -> (Emf, Writes) {
    let writes = Writes::default();
    (Emf::new("hello-lambda-otel", "greeter", Box::new(writes.clone())), writes)
}

fn invocation(method: &str, status: Option<u16>, millis: f64) -> Invocation<'_> {
    let failed = status.is_none_or(|status| status >= 500);
    Invocation { method, status, failed, coldstart: false, duration: Duration::from_secs_f64(millis / 1000.0) }
}

/// (Method, StatusClass, Requests, Errors, ColdStarts) of each line.
fn counts(lines: &[Value]) -> Vec<(String, String, u64, u64, u64)> {
    let mut counts: Vec<_> = lines
        .iter()
        .map(|line| {
            let text = |name: &str| line[name].as_str().unwrap().to_string();
            let number = |name: &str| line[name].as_u64().unwrap();
            (text("Method"), text("StatusClass"), number("Requests"), number("Errors"), number("ColdStarts"))
        })
        .collect();
    counts.sort();
    counts
}

#[test]
fn a_line_is_two_directives_with_units_and_every_member_they_name() {
    let writes = Writes::default();
    let emf = Emf::new("hello-lambda-otel", "say \"hi\"", Box::new(writes.clone()));
    let cold = Invocation { coldstart: true, ..invocation("POST", Some(200), 1.5) };
    emf.record_at(&cold, T0);
    emf.record_at(&invocation("POST", Some(201), 0.25), T0 + 10);
    emf.write_all();
    let [line] = &writes.take()[..] else { panic!("one group, one line") };
    let expected = json!({
        "_aws": {
            "Timestamp": T0,
            "CloudWatchMetrics": [
                {
                    "Namespace": "hello-lambda-otel",
                    "Dimensions": [["Service", "Method", "StatusClass"]],
                    "Metrics": [{"Name": "Requests", "Unit": "Count"}, {"Name": "Duration", "Unit": "Milliseconds"}]
                },
                {
                    "Namespace": "hello-lambda-otel",
                    "Dimensions": [["Service", "Method"]],
                    "Metrics": [{"Name": "Errors", "Unit": "Count"}, {"Name": "ColdStarts", "Unit": "Count"}]
                }
            ]
        },
        "Service": "say \"hi\"",
        "Method": "POST",
        "StatusClass": "2xx",
        "Requests": 2,
        "Duration": [1.5, 0.25],
        "Errors": 0,
        "ColdStarts": 1
    });
    assert_eq!(line, &expected);
}

#[test]
fn durations_are_milliseconds_to_the_microsecond() {
    let (emf, writes) = emf();
    for micros in [0, 1, 999, 1_000, 123_456, 900_000_000] {
        let duration = Duration::from_micros(micros) + Duration::from_nanos(999);
        emf.record_at(&Invocation { duration, ..invocation("GET", Some(200), 0.0) }, T0);
    }
    emf.write_all();
    let line = writes.take().remove(0);
    let durations: Vec<f64> = line["Duration"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(durations, [0.0, 0.001, 0.999, 1.0, 123.456, 900_000.0]);
}

#[test]
fn invocations_are_grouped_by_method_and_status_class_with_errors_and_cold_starts_always_present() {
    let (emf, writes) = emf();
    let cold = Invocation { coldstart: true, ..invocation("GET", Some(200), 3.0) };
    for invocation in [
        cold,
        invocation("GET", Some(204), 1.0),
        invocation("GET", Some(404), 1.0),
        invocation("GET", Some(503), 1.0),
        invocation("POST", Some(200), 1.0),
        invocation("POST", Some(400), 1.0),
        // The handler never answered: API Gateway answers 502.
        invocation("POST", None, 1.0),
        invocation("_OTHER", Some(301), 1.0),
        // Not a status API Gateway passes on: it answers 502 instead.
        invocation("PUT", Some(600), 1.0),
    ] {
        emf.record_at(&invocation, T0);
    }
    assert!(writes.take().is_empty(), "nothing is written before the pacing, the shutdown, a full group or a minute");
    emf.write_all();
    let lines = writes.take();
    let row = |method: &str, class: &str, requests, errors, coldstarts| {
        (method.to_string(), class.to_string(), requests, errors, coldstarts)
    };
    assert_eq!(
        counts(&lines),
        [
            row("GET", "2xx", 2, 0, 1),
            row("GET", "4xx", 1, 0, 0),
            row("GET", "5xx", 1, 1, 0),
            row("POST", "2xx", 1, 0, 0),
            row("POST", "4xx", 1, 0, 0),
            row("POST", "5xx", 1, 1, 0),
            row("PUT", "5xx", 1, 1, 0),
            row("_OTHER", "3xx", 1, 0, 0),
        ]
    );
    for line in &lines {
        assert_eq!(line["Service"], "greeter");
        assert_eq!(line["Requests"].as_u64(), Some(line["Duration"].as_array().unwrap().len() as u64));
    }
    emf.write_all();
    assert!(writes.take().is_empty(), "a written group starts empty");
}

#[test]
fn a_group_is_written_when_it_holds_a_hundred_durations() {
    let (emf, writes) = emf();
    for index in 0..250 {
        emf.record_at(&invocation("GET", Some(200), 1.0), T0 + index);
        let written = writes.0.lock().unwrap().len();
        assert_eq!(written, (index as usize + 1) / MAX_VALUES, "after {} invocations", index + 1);
    }
    emf.write_all();
    let lines = writes.take();
    let sizes: Vec<usize> = lines.iter().map(|line| line["Duration"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let timestamps: Vec<u64> = lines.iter().map(|line| line["_aws"]["Timestamp"].as_u64().unwrap()).collect();
    assert_eq!(timestamps, [T0, T0 + 100, T0 + 200], "each line's first recording");
}

#[test]
fn a_group_is_written_before_a_recording_in_a_later_minute() {
    let (emf, writes) = emf();
    let minute_end = T0 - T0 % 60_000 + 59_999;
    emf.record_at(&invocation("GET", Some(200), 1.0), minute_end - 1);
    emf.record_at(&invocation("GET", Some(200), 1.0), minute_end);
    emf.record_at(&invocation("POST", Some(200), 1.0), minute_end);
    assert!(writes.take().is_empty());
    emf.record_at(&invocation("GET", Some(200), 2.0), minute_end + 1);
    let lines = writes.take();
    assert_eq!(counts(&lines), [("GET".into(), "2xx".into(), 2, 0, 0)], "only the group the new minute reached");
    assert_eq!(lines[0]["_aws"]["Timestamp"], minute_end - 1);
    emf.write_all();
    let lines = writes.take();
    let timestamps: Vec<(&str, u64)> = lines
        .iter()
        .map(|line| (line["Method"].as_str().unwrap(), line["_aws"]["Timestamp"].as_u64().unwrap()))
        .collect();
    assert_eq!(timestamps, [("GET", minute_end + 1), ("POST", minute_end)]);
}

#[test]
fn paced_writes_go_out_at_most_once_an_interval_and_the_first_at_once() {
    let (emf, writes) = emf();
    let interval = Duration::from_millis(1000);
    let start = Instant::now();
    emf.write_paced(start, interval);
    emf.record_at(&invocation("GET", Some(200), 1.0), T0);
    emf.write_paced(start, interval);
    assert_eq!(writes.take().len(), 1, "nothing written before: the first invocation's line goes at once");
    emf.record_at(&invocation("GET", Some(200), 1.0), T0 + 500);
    emf.write_paced(start + Duration::from_millis(999), interval);
    assert!(writes.take().is_empty(), "within the interval");
    emf.write_paced(start + interval, interval);
    assert_eq!(writes.take().len(), 1);
    // Every invocation, with an interval of 0.
    for offset in 1..=3 {
        emf.record_at(&invocation("GET", Some(200), 1.0), T0 + 1000 + offset);
        emf.write_paced(start + interval, Duration::ZERO);
    }
    assert_eq!(writes.take().len(), 3);
}

#[test]
fn a_failing_output_loses_lines_and_nothing_else() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let emf = Emf::new("n", "s", Box::new(Broken));
    for index in 0..150 {
        emf.record_at(&invocation("GET", Some(200), 1.0), T0 + index);
    }
    emf.write_all();
    assert!(emf.lock().groups.iter().all(Group::is_empty));
}

#[test]
fn the_specification_checks_reject_what_cloudwatch_would() {
    let (emf, writes) = emf();
    emf.record_at(&invocation("GET", Some(200), 1.0), T0);
    emf.write_all();
    let valid = writes.take().remove(0);
    let broken = |change: fn(&mut Value)| {
        let mut line = valid.clone();
        change(&mut line);
        spec::violations(&line.to_string())
    };
    type Change = fn(&mut Value);
    let cases: [(&str, Change); 10] = [
        ("no timestamp", |line| drop(line["_aws"].as_object_mut().unwrap().remove("Timestamp"))),
        ("a timestamp in seconds", |line| line["_aws"]["Timestamp"] = json!(T0 / 1000)),
        ("a fractional timestamp", |line| line["_aws"]["Timestamp"] = json!(1.5e12)),
        ("no namespace", |line| {
            drop(line["_aws"]["CloudWatchMetrics"][0].as_object_mut().unwrap().remove("Namespace"))
        }),
        ("a blank namespace", |line| line["_aws"]["CloudWatchMetrics"][1]["Namespace"] = json!("  ")),
        ("a unit CloudWatch does not know", |line| {
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Unit"] = json!("ms")
        }),
        ("a metric without its member", |line| drop(line.as_object_mut().unwrap().remove("ColdStarts"))),
        ("a dimension that is not a string", |line| line["StatusClass"] = json!(2)),
        ("101 values", |line| line["Duration"] = json!(vec![1.0; 101])),
        ("31 dimensions", |line| line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0] = json!(vec!["Service"; 31])),
    ];
    for (what, change) in cases {
        assert!(!broken(change).is_empty(), "{what} passed the checks");
    }
    assert!(!spec::violations(&format!("{valid} trailing")).is_empty(), "data after the object");
}

/// The sizes docs/telemetry.md prices log ingestion with: about 520 bytes for a line with one duration, about 6 more
/// per further duration, about 1.1 KB with 100 (the tutorial's service name and namespace, sub-millisecond durations).
#[test]
fn a_line_is_about_520_bytes_and_6_more_per_duration() {
    let size = |durations: u64| {
        let writes = Writes::default();
        let emf = Emf::new("hello-lambda-otel", "GetStartedLambdaProxyIntegration", Box::new(writes.clone()));
        for n in 0..durations {
            emf.record_at(&invocation("POST", Some(200), 0.25 + n as f64 / 1000.0), T0);
        }
        emf.write_all();
        let written = writes.0.lock().unwrap().concat();
        written.len()
    };
    let (one, hundred) = (size(1), size(100));
    assert!((500..=540).contains(&one), "one duration: {one} bytes");
    let per_duration = (hundred - one) as f64 / 99.0;
    assert!((5.0..=7.0).contains(&per_duration), "{per_duration:.1} bytes per further duration");
    assert!((1_000..=1_200).contains(&hundred), "100 durations: {hundred} bytes");
}
