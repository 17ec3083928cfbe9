//! Pod networks through the real CNI plugins (bridge, host-local, portmap).
//! Every test's podctl runs in a network namespace of the test's own (see
//! `tests::Root`), so the bridge, veths and iptables rules are made there
//! and traffic stays between that namespace and the pods.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::Duration;

use tests::{Guard, Root, output, wait_for};

fn pod(name: &str, spec: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{spec}")
}

/// A web server answering `/` with `hello` and `/cgi-bin/peer` with the
/// address the request came from.
const WEB: &str = "mkdir -p /www/cgi-bin; printf \"#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho peer=\\$REMOTE_ADDR\\n\" > /www/cgi-bin/peer; chmod +x /www/cgi-bin/peer; echo hello > /www/index.html; exec httpd -f -p 80 -h /www";

fn web(name: &str, ports: &str) -> String {
    pod(
        name,
        &format!(
            "  containers:\n  - name: web\n    image: busybox\n    command: [sh, -c, '{WEB}']\n    ports: [{ports}]\n"
        ),
    )
}

fn sleeper(name: &str) -> String {
    pod(
        name,
        "  containers:\n  - {name: c, image: busybox, command: [sleep, '3600']}\n",
    )
}

fn pod_ip(root: &Root, name: &str) -> String {
    root.pod(name)["status"]["podIP"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no podIP: {}", root.pod(name)))
        .to_string()
}

/// `wget -qO- URL` run in `pod`, retried while the server starts.
fn fetch_in(root: &Root, pod: &str, url: &str) -> Option<String> {
    wait_for(Duration::from_secs(10), || {
        // (busybox's `wget -T` crashes: `timeout` bounds it instead.)
        let (code, out, _) = root.podctl(&["exec", pod, "--", "timeout", "3", "wget", "-qO-", url]);
        (code == 0).then_some(out)
    })
}

/// `wget -qO- URL` from the test's network namespace (the pods' host).
fn fetch_from_host(root: &Root, url: &str) -> Option<String> {
    wait_for(Duration::from_secs(10), || {
        let (code, out, _) = output(root.netns.enter().args(["busybox", "wget", "-qO-", url]));
        (code == 0).then_some(out)
    })
}

/// What a pod network can leave behind in the test's namespace and root:
/// veths, iptables rules naming the pod, address allocations, pinned namespaces.
fn network_leftovers(root: &Root) -> Vec<String> {
    let mut left = Vec::new();
    // The built-in network's veth pair goes with the pod's network
    // namespace, which the kernel tears down in its own time once the last
    // pin is gone: give it a moment.
    let veths = || {
        let (_, veths, _) = output(
            root.netns
                .enter()
                .args(["ip", "-o", "link", "show", "type", "veth"]),
        );
        veths
    };
    let veths = wait_for(Duration::from_secs(2), || {
        let now = veths();
        now.trim().is_empty().then_some(now)
    })
    .unwrap_or_else(veths);
    left.extend(veths.lines().map(|l| format!("veth: {l}")));
    for table in ["nat", "filter"] {
        let (_, rules, _) = output(root.netns.enter().args(["iptables", "-t", table, "-S"]));
        left.extend(
            rules
                .lines()
                .filter(|l| l.contains("id: \\\"") || l.contains("id: \""))
                .map(|l| format!("iptables {table}: {l}")),
        );
    }
    let allocations = root.path().join("cni/networks/podctl");
    for entry in std::fs::read_dir(allocations)
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "lock" && !name.starts_with("last_reserved_ip") {
            left.push(format!("allocation: {name}"));
        }
    }
    for entry in std::fs::read_dir(root.path().join("ns"))
        .into_iter()
        .flatten()
        .flatten()
    {
        left.push(format!("pinned namespaces: {}", entry.path().display()));
    }
    left
}

/// Delete a pod (or `--all`) without a grace period and check its network
/// left nothing behind.
fn delete_leaving_no_network(root: &Root, pod: &str) {
    let (code, _, err) = root.podctl(&["delete", "pod", pod, "--grace-period", "0"]);
    assert_eq!(code, 0, "{err}");
    let left = network_leftovers(root);
    assert!(left.is_empty(), "{left:#?}");
}

#[test]
fn pods_get_their_own_ips_and_reach_each_other_without_nat() {
    let root = Root::with_busybox();
    root.start(&web("server", "{containerPort: 80}"), &[]);
    root.start(&sleeper("client"), &[]);
    let (server, client) = (pod_ip(&root, "server"), pod_ip(&root, "client"));
    assert_ne!(server, client);
    for (name, ip) in [("server", &server), ("client", &client)] {
        assert!(
            ip.starts_with("10.86."),
            "{name}: {ip} from the built-in subnet"
        );
        let pid = root.pid(name, "pause");
        let (code, addr, err) = output(
            tests::nsenter(pid)
                .arg("--net")
                .args(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]),
        );
        assert_eq!(code, 0, "{err}");
        assert!(
            addr.contains(&format!("inet {ip}/")),
            "{name}: eth0 holds {ip}: {addr}"
        );
        // An IPv4 network: eth0 makes no IPv6 link-local address, so it
        // sends no duplicate address probes, router solicitations or MLD
        // reports for the bridge to flood to every pod.
        let (_, v6, _) = output(
            tests::nsenter(pid)
                .arg("--net")
                .args(["ip", "-6", "-o", "addr", "show", "dev", "eth0"]),
        );
        assert_eq!(v6.trim(), "", "{name}: no IPv6 address on eth0");
        let (_, link, _) = output(
            tests::nsenter(pid)
                .arg("--net")
                .args(["ip", "-d", "link", "show", "dev", "eth0"]),
        );
        assert!(link.contains("addrgenmode none"), "{name}: {link}");
        let json = root.pod(name);
        assert_eq!(json["status"]["podIPs"][0]["ip"], ip.as_str());
        // /etc/hosts maps the pod's name to its IP, as the kubelet writes it.
        let (_, hosts, _) = root.podctl(&["exec", name, "--", "cat", "/etc/hosts"]);
        assert!(hosts.contains(&format!("{ip}\t{name}\n")), "{hosts}");
    }
    // The veths' host ends, ports of the bridge, make no IPv6 address either.
    let (_, veths, _) = output(
        root.netns
            .enter()
            .args(["ip", "-o", "-d", "link", "show", "type", "veth"]),
    );
    assert_eq!(veths.lines().count(), 2, "{veths}");
    for line in veths.lines() {
        assert!(line.contains("addrgenmode none"), "{line}");
    }
    // The server sees the client's own pod IP: no NAT between pods.
    let seen = fetch_in(&root, "client", &format!("http://{server}/cgi-bin/peer")).unwrap();
    // (busybox httpd listens on IPv6 and shows IPv4 peers mapped.)
    assert_eq!(
        seen,
        format!("peer=[::ffff:{client}]\n"),
        "the server saw the client's pod IP"
    );
    let (_, wide, _) = root.podctl(&["get", "pods", "-o", "wide"]);
    assert!(wide.contains(&server) && wide.contains(&client), "{wide}");
    let (_, describe, _) = root.podctl(&["describe", "pod", "server"]);
    assert!(
        describe.contains(&format!("IP:               {server}")),
        "{describe}"
    );
}

#[test]
fn a_pods_localhost_is_its_own() {
    let root = Root::with_busybox();
    // The server listens on the pod's loopback only; its sidecar reaches it there.
    root.start(
        &pod(
            "local",
            &format!(
                "  containers:\n  - {{name: web, image: busybox, command: [sh, -c, '{}']}}\n  - {{name: side, image: busybox, command: [sleep, '3600']}}\n",
                WEB.replace("-p 80", "-p 127.0.0.1:8081")
            ),
        ),
        &[],
    );
    root.start(&sleeper("other"), &[]);
    let (code, out, err) = output(root.command().args([
        "exec", "local", "-c", "side", "--", "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8081/ && exit 0; sleep 0.5; done; exit 1",
    ]));
    assert_eq!(
        code, 0,
        "the sidecar reaches its pod's localhost: {out}{err}"
    );
    assert_eq!(out, "hello\n");
    let ip = pod_ip(&root, "local");
    for url in [
        format!("http://{ip}:8081/"),
        "http://127.0.0.1:8081/".to_string(),
    ] {
        let (code, out, _) =
            root.podctl(&["exec", "other", "--", "timeout", "3", "wget", "-qO-", &url]);
        assert_ne!(code, 0, "another pod reached {url}: {out}");
    }
}

#[test]
fn a_host_port_is_published_and_a_clash_is_refused_naming_the_holder() {
    let root = Root::with_busybox();
    root.start(
        &web("published", "{containerPort: 80, hostPort: 18080}"),
        &[],
    );
    let ip = pod_ip(&root, "published");
    for host in ["127.0.0.1", "10.86.0.1"] {
        let body = fetch_from_host(&root, &format!("http://{host}:18080/")).unwrap_or_default();
        assert_eq!(body, "hello\n", "hostPort on {host}");
    }
    let before = network_leftovers(&root);
    let (code, _, err) =
        root.run_manifest(&web("second", "{containerPort: 80, hostPort: 18080}"), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("spec.containers[0].ports[0].hostPort")
            && err.contains("18080/TCP")
            && err.contains("default/published"),
        "{err}"
    );
    assert_eq!(
        root.podctl(&["get", "pod", "second"]).0,
        3,
        "no pod is made"
    );
    assert_eq!(
        network_leftovers(&root),
        before,
        "no network is made for it"
    );
    // The first pod still answers, on its own IP too.
    assert_eq!(
        fetch_from_host(&root, &format!("http://{ip}/")).unwrap(),
        "hello\n"
    );
    // Bad ports are refused by field.
    let (code, _, err) =
        root.run_manifest(&web("bad", "{containerPort: 80, hostPort: 70000}"), &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("spec.containers[0].ports[0].hostPort") && err.contains("70000"),
        "{err}"
    );
    let (code, _, err) = root.run_manifest(&web("bad", "{containerPort: 0}"), &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("spec.containers[0].ports[0].containerPort"),
        "{err}"
    );
}

/// Runs started at the same moment for one hostPort: exactly one gets it.
/// The port is checked and the record written under the root's lock, and
/// the lock is let go only once the record is in place, also now that the
/// record is written on a thread while the pod starts.
#[test]
fn runs_at_once_for_one_host_port_give_it_to_one_pod() {
    let root = Root::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let file = dir.path().join(format!("p{i}.yaml"));
            let manifest = sleeper(&format!("p{i}")).replace(
                "command: [sleep, '3600']}",
                "command: [sleep, '3600'], ports: [{containerPort: 80, hostPort: 18081}]}",
            );
            std::fs::write(&file, manifest).unwrap();
            root.command()
                .args(["run", "-d", "-f"])
                .arg(&file)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<(i32, String)> = runs
        .into_iter()
        .map(|run| {
            let out = run.wait_with_output().unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect();
    let started = results.iter().filter(|(code, _)| *code == 0).count();
    assert_eq!(started, 1, "{results:?}");
    for (code, err) in results.iter().filter(|(code, _)| *code != 0) {
        assert_eq!(*code, 1, "{err}");
        assert!(err.contains("18081/TCP"), "{err}");
    }
}

#[test]
fn port_forward_reaches_a_pod_without_a_host_port_and_ends_on_ctrl_c() {
    let root = Root::with_busybox();
    root.start(&web("forwarded", "{containerPort: 80}"), &[]);
    let mut forward = Guard(
        root.command()
            .args(["port-forward", "forwarded", "18081:80"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(forward.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "Forwarding from 127.0.0.1:18081 -> 80\n");
    assert_eq!(
        fetch_from_host(&root, "http://127.0.0.1:18081/").unwrap(),
        "hello\n"
    );
    let seen = fetch_from_host(&root, "http://127.0.0.1:18081/cgi-bin/peer").unwrap();
    assert!(
        seen.contains("127.0.0.1"),
        "from the pod's own loopback: {seen}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(forward.pid()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = forward.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C ends it cleanly");
}

#[test]
fn fifty_pods_get_fifty_addresses_and_delete_returns_them_all() {
    let root = Root::with_busybox();
    let manifest: String = (0..50)
        .map(|i| sleeper(&format!("many-{i}")))
        .collect::<Vec<_>>()
        .join("---\n");
    root.start(&manifest, &[]);
    let ips: BTreeSet<String> = (0..50)
        .map(|i| pod_ip(&root, &format!("many-{i}")))
        .collect();
    assert_eq!(ips.len(), 50, "{ips:?}");
    assert!(
        !network_leftovers(&root).is_empty(),
        "the pods have veths and allocations"
    );
    delete_leaving_no_network(&root, "--all");
}

#[test]
fn the_network_outlives_pause_and_is_cleaned_after_its_supervisor_is_killed() {
    let root = Root::with_busybox();
    root.start(&web("sturdy", "{containerPort: 80, hostPort: 18082}"), &[]);
    let ip = pod_ip(&root, "sturdy");
    let pause = root.pid("sturdy", "pause");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pause),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let rebuilt = wait_for(Duration::from_secs(15), || {
        let status = root.runtime_status("sturdy");
        let new = status["sandbox"]["pause_pid"].as_i64()? as i32;
        (new != pause && status["containers"][0]["pid"].is_i64()).then_some(new)
    })
    .expect("a new sandbox");
    assert!(rebuilt > 0);
    assert_eq!(pod_ip(&root, "sturdy"), ip, "the pod keeps its IP");
    assert_eq!(
        fetch_from_host(&root, "http://127.0.0.1:18082/").unwrap(),
        "hello\n"
    );
    let uid = root.pod("sturdy")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    root.kill_supervisor(&uid);
    delete_leaving_no_network(&root, "sturdy");
}

#[test]
fn a_broken_network_config_is_named_and_leaves_nothing() {
    let root = Root::with_busybox();
    let conf = tempfile::tempdir().unwrap();
    let conf_dir = conf.path().to_str().unwrap().to_string();
    let ipam_dir = root.path().join("test-ipam");
    let conflist = |plugins: &str| {
        format!(r#"{{"cniVersion": "1.0.0", "name": "testnet", "plugins": [{plugins}]}}"#)
    };
    // (A bridge stays after its last pod, with its gateway address: one per subnet.)
    let bridge = |name: &str, subnet: &str| {
        format!(
            r#"{{"type": "bridge", "bridge": "{name}", "isGateway": true, "ipam": {{"type": "host-local", "ranges": [[{{"subnet": "{subnet}"}}]], "dataDir": "{}"}}}}"#,
            ipam_dir.display()
        )
    };
    let cases = [
        ("not json {", "10-bad.conflist", "not JSON".to_string()),
        (
            &*conflist(&format!(
                r#"{}, {{"type": "nosuchplugin"}}"#,
                bridge("testbr0", "10.87.0.0/24")
            )),
            "10-missing.conflist",
            "\"nosuchplugin\"".to_string(),
        ),
    ];
    for (text, file, expected) in cases {
        for old in std::fs::read_dir(conf.path()).unwrap().flatten() {
            std::fs::remove_file(old.path()).unwrap();
        }
        std::fs::write(conf.path().join(file), text).unwrap();
        let (code, _, err) = root.run_manifest(&sleeper("netless"), &["--cni-conf-dir", &conf_dir]);
        assert_eq!(code, 1, "{file}: {err}");
        assert!(
            err.contains(file) && err.contains(&expected),
            "{file}: {err}"
        );
        assert_eq!(
            root.podctl(&["get", "pod", "netless"]).0,
            3,
            "{file}: no pod"
        );
        // The supervisor started and made pause while the network was
        // being made: both are gone, with pause's root (a bind of its
        // image's layer) and every mount in the pod's folder.
        for under in ["images", "pods"] {
            let needle = root.path().join(under);
            let mounts = tests::mounts_anywhere(needle.to_str().unwrap());
            assert!(mounts.is_empty(), "{file}: a mount is left: {mounts:?}");
        }
        assert!(
            tests::processes_with(root.path().to_str().unwrap()).is_empty(),
            "{file}: a supervisor is left"
        );
        assert!(
            network_leftovers(&root).is_empty(),
            "{file}: {:?}",
            network_leftovers(&root)
        );
        let allocated: Vec<_> = std::fs::read_dir(ipam_dir.join("testnet"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "lock" && !n.to_string_lossy().starts_with("last_reserved_ip"))
            .collect();
        assert!(allocated.is_empty(), "{file}: {allocated:?}");
    }
    // An exhausted subnet: a /30 has one address for a pod beside the gateway.
    for old in std::fs::read_dir(conf.path()).unwrap().flatten() {
        std::fs::remove_file(old.path()).unwrap();
    }
    std::fs::write(
        conf.path().join("10-tiny.conflist"),
        conflist(&bridge("testbr1", "10.87.1.0/30")),
    )
    .unwrap();
    root.start(&sleeper("fits"), &["--cni-conf-dir", &conf_dir]);
    let (code, _, err) = root.run_manifest(&sleeper("overflow"), &["--cni-conf-dir", &conf_dir]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("host-local") || err.contains("\"bridge\""),
        "{err}"
    );
    assert!(err.contains("10-tiny.conflist"), "{err}");
    assert_eq!(root.podctl(&["get", "pod", "overflow"]).0, 3);
    delete_leaving_no_network(&root, "fits");
}

#[test]
fn recover_keeps_a_whole_network_and_remakes_a_broken_one() {
    let root = Root::with_busybox();
    root.start(&web("recovered", "{containerPort: 80}"), &[]);
    let ip = pod_ip(&root, "recovered");
    let uid = root.pod("recovered")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    // Whole: CNI CHECK passes and the pod keeps its IP.
    root.kill_supervisor(&uid);
    let (code, _, err) = root.podctl(&["recover", "recovered"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("made anew"), "{err}");
    assert_eq!(pod_ip(&root, "recovered"), ip);
    assert_eq!(
        fetch_from_host(&root, &format!("http://{ip}/")).unwrap(),
        "hello\n"
    );
    // Broken: the pod's address no longer reserved for it; DEL and ADD make
    // the network anew. The old namespace is held meanwhile (as the kernel
    // does while it tears one down): its veth, named for the pod, is still
    // there when the new one is made.
    std::fs::remove_file(root.path().join("cni/networks/podctl").join(&ip)).unwrap();
    let pause = root.pid("recovered", "pause");
    let mut holder = Command::new("nsenter")
        .arg(format!("--net=/proc/{pause}/ns/net"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    root.kill_supervisor(&uid);
    let (code, _, err) = root.podctl(&["recover", "recovered"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("made anew"), "{err}");
    let new_ip = pod_ip(&root, "recovered");
    assert_eq!(
        fetch_from_host(&root, &format!("http://{new_ip}/")).unwrap(),
        "hello\n"
    );
    // The host's end of the pod's veth is a port of podctl0 in hairpin mode
    // (a pod reaches itself through its own hostPort).
    let attachment: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.path().join("pods").join(&uid).join("network.json")).unwrap(),
    )
    .unwrap();
    let veth = attachment["result"]["interfaces"][1]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, link, _) = output(root.netns.enter().args(["ip", "-d", "link", "show", &veth]));
    assert!(
        link.contains("master podctl0") && link.contains("hairpin on"),
        "{link}"
    );
    // Broken by hand: the veth deleted; the check finds it, and the pod's
    // network is made anew.
    let (code, _, err) = output(root.netns.enter().args(["ip", "link", "delete", &veth]));
    assert_eq!(code, 0, "{err}");
    root.kill_supervisor(&uid);
    let (code, _, err) = root.podctl(&["recover", "recovered"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("made anew") && err.contains(&veth), "{err}");
    let ip = pod_ip(&root, "recovered");
    assert_eq!(
        fetch_from_host(&root, &format!("http://{ip}/")).unwrap(),
        "hello\n"
    );
    delete_leaving_no_network(&root, "recovered");
}

#[test]
fn traffic_leaving_the_host_is_masqueraded() {
    let root = Root::with_busybox();
    root.start(&sleeper("leaving"), &[]);
    // Another namespace stands for the world outside the pods' host, joined
    // to the host's (the test's) by a veth pair: 192.0.2.1 here, 192.0.2.2 there.
    let outside = tests::NetNs::new();
    let run = |command: &mut std::process::Command| {
        let (code, _, err) = output(command);
        assert_eq!(code, 0, "{command:?}: {err}");
    };
    run(root.netns.enter().args([
        "ip", "link", "add", "out0", "type", "veth", "peer", "name", "out1",
    ]));
    run(root
        .netns
        .enter()
        .args(["ip", "link", "set", "out1", "netns", &outside.path()]));
    run(root
        .netns
        .enter()
        .args(["ip", "addr", "add", "192.0.2.1/24", "dev", "out0"]));
    run(root.netns.enter().args(["ip", "link", "set", "out0", "up"]));
    run(outside
        .enter()
        .args(["ip", "addr", "add", "192.0.2.2/24", "dev", "out1"]));
    run(outside.enter().args(["ip", "link", "set", "out1", "up"]));
    let www = tempfile::tempdir().unwrap();
    std::fs::create_dir(www.path().join("cgi-bin")).unwrap();
    let cgi = www.path().join("cgi-bin/peer");
    std::fs::write(
        &cgi,
        "#!/bin/sh\necho Content-Type: text/plain\necho\necho peer=$REMOTE_ADDR\n",
    )
    .unwrap();
    std::fs::set_permissions(&cgi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let _server = Guard(
        outside
            .enter()
            .args(["busybox", "httpd", "-f", "-p", "192.0.2.2:80", "-h"])
            .arg(www.path())
            .spawn()
            .unwrap(),
    );
    let seen = fetch_in(&root, "leaving", "http://192.0.2.2/cgi-bin/peer")
        .expect("the pod reaches outside");
    let ip = pod_ip(&root, "leaving");
    assert!(
        seen.contains("192.0.2.1"),
        "the outside saw the host's address: {seen}"
    );
    assert!(!seen.contains(&ip), "not the pod's {ip}: {seen}");
}
