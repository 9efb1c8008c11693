//! `health-check` with no configuration must pass on this machine. It lives in its own test
//! binary so that no other test loads the CPU while it measures (cargo runs test binaries one
//! after another).

mod common;

use std::time::Duration;

use common::{Run, Sandbox};

fn run(sb: &Sandbox, name: &str, args: &[&str]) -> Run {
    let mut a = vec!["run", name, "--json"];
    a.extend_from_slice(args);
    Run::from_output(sb.run(&a))
}

fn names(r: &Run) -> Vec<String> {
    r.report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn health_check_passes_on_this_machine_with_no_config() {
    let sb = Sandbox::new();
    // The host is shared with the other tests: CPU may be briefly above 70 %. Retry a few times;
    // memory and disk must pass every time.
    let mut last = None;
    for _ in 0..10 {
        let r = run(&sb, "health-check", &[]);
        r.no_panic();
        assert!(r.report["error"].is_null(), "{:#}", r.report);
        assert_eq!(r.check("memory")["ok"], true, "{:#}", r.report);
        assert!(
            names(&r).iter().any(|n| n.starts_with("disk /")),
            "{:?}",
            names(&r)
        );
        assert!(r.effects("").is_empty() && r.report["effects"].as_array().unwrap().is_empty());
        // the handbook's 监控网络连接状态 too: at least four checks on a host with no config
        assert!(names(&r).len() >= 4, "{:?}", names(&r));
        for n in ["close-wait sockets", "time-wait sockets"] {
            assert_eq!(r.check(n)["status"], "ok", "{:#}", r.report);
        }
        let out = r.output();
        assert!(
            out.iter().any(|l| l.contains("checked the host only")),
            "{out:?}"
        );
        assert!(
            out.iter()
                .any(|l| l.starts_with("cpu: mean of 5 sample(s)")),
            "{out:?}"
        );
        if r.code == 0 {
            return;
        }
        // only the CPU check may fail, and only because the CPU really is busy
        for c in r.report["checks"].as_array().unwrap() {
            assert!(
                c["ok"] == true || (c["name"] == "cpu" && c["value"].as_f64().unwrap() >= 70.0),
                "{c:#}"
            );
        }
        last = Some(r);
        std::thread::sleep(Duration::from_secs(3));
    }
    panic!("health-check did not pass: {:#}", last.unwrap().report);
}
