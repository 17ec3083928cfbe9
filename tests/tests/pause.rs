//! The pause contract (docs: pause section of the README), row by row, by
//! running the real static binary.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tests::{Guard, PidGuard, bin, children_of, first_child, output, proc_stat, wait_for};

fn pause() -> Command {
    let mut command = Command::new(bin("pause"));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Start pause (not as PID 1) and wait until its handlers are installed.
fn started(command: &mut Command) -> Guard {
    let guard = Guard(command.spawn().expect("spawn pause"));
    let pid = guard.pid();
    let ready = wait_for(Duration::from_secs(5), || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))?
            .trim()
            .to_string();
        let mask = u64::from_str_radix(&caught, 16).ok()?;
        // SIGINT (2), SIGTERM (15) and SIGCHLD (17) caught.
        (mask & (1 << 1 | 1 << 14 | 1 << 16) == (1 << 1 | 1 << 14 | 1 << 16)).then_some(())
    });
    assert!(ready.is_some(), "pause did not install its handlers");
    guard
}

fn finish(mut guard: Guard) -> (std::process::ExitStatus, String, String) {
    let status = guard.0.wait().expect("wait pause");
    let mut out = String::new();
    let mut err = String::new();
    guard
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    guard
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

#[test]
fn version_flag_anywhere_in_any_case_prints_one_line_and_exits_0() {
    for args in [
        &["-v"][..],
        &["-V"],
        &["first", "second", "-v"],
        &["x", "-V", "y"],
    ] {
        let (code, out, err) = output(pause().args(args));
        assert_eq!(code, 0, "{args:?}");
        assert!(out.starts_with("pause.c v3.10"), "{args:?}: {out:?}");
        assert_eq!(out.lines().count(), 1, "{args:?}: {out:?}");
        assert!(out.ends_with('\n'));
        assert_eq!(
            err, "",
            "{args:?}: -v installs nothing and warns of nothing"
        );
    }
}

#[test]
fn near_misses_of_the_version_flag_do_not_print_the_version() {
    for arg in ["-vv", "--v", "v", "-"] {
        let guard = started(pause().arg(arg));
        assert!(
            proc_stat(guard.pid()).is_some(),
            "{arg}: pause must keep running"
        );
        kill(Pid::from_raw(guard.pid()), Signal::SIGTERM).unwrap();
        let (status, out, _) = finish(guard);
        assert_eq!(status.code(), Some(0));
        assert_eq!(out, "", "{arg}");
    }
}

#[test]
fn not_pid_1_warns_then_runs_and_sigterm_exits_0() {
    let guard = started(&mut pause());
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        proc_stat(guard.pid()).is_some(),
        "pause must carry on after the warning"
    );
    kill(Pid::from_raw(guard.pid()), Signal::SIGTERM).unwrap();
    let (status, out, err) = finish(guard);
    assert_eq!(status.code(), Some(0));
    assert_eq!(out, "");
    assert_eq!(
        err,
        "Warning: pause should be the first process\nShutting down, got signal: Terminated\n"
    );
}

#[test]
fn sigint_prints_interrupt_and_exits_0() {
    let guard = started(&mut pause());
    kill(Pid::from_raw(guard.pid()), Signal::SIGINT).unwrap();
    let (status, _, err) = finish(guard);
    assert_eq!(status.code(), Some(0));
    assert!(
        err.ends_with("Shutting down, got signal: Interrupt\n"),
        "{err:?}"
    );
}

/// pause leaves every signal it does not handle as it found it. It is
/// started with each one's default action: an ignored signal stays ignored
/// across exec, and a test run under `nohup` (SIGHUP ignored) would
/// otherwise wait for ever for a pause that rightly ignores SIGHUP too.
#[test]
fn other_signals_keep_their_default_action() {
    for signal in [Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGQUIT] {
        let mut command = pause();
        let signo = signal as libc::c_int;
        // SAFETY: the closure runs in the forked child before exec and only
        // calls signal(2), which is async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::signal(signo, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let guard = started(&mut command);
        kill(Pid::from_raw(guard.pid()), signal).unwrap();
        let (status, _, err) = finish(guard);
        assert_eq!(status.signal(), Some(signal as i32), "{signal}: {err:?}");
    }
}

/// Install a seccomp filter in the child that makes `rt_sigaction(signo, ...)` fail with EINVAL.
fn fail_sigaction_for(command: &mut Command, signo: u32) {
    // SAFETY: the closure runs in the forked child before exec and only makes
    // two system calls on memory it owns.
    unsafe {
        command.pre_exec(move || {
            let filter = [
                bpf_stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
                bpf_jump(
                    libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
                    libc::SYS_rt_sigaction as u32,
                    0,
                    3,
                ),
                bpf_stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 16),
                bpf_jump(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, signo, 0, 1),
                bpf_stmt(
                    libc::BPF_RET | libc::BPF_K,
                    libc::SECCOMP_RET_ERRNO | libc::EINVAL as u32,
                ),
                bpf_stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
            ];
            let program = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut _,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &program,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn bpf_stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn bpf_jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

#[test]
fn failing_to_install_a_handler_exits_1_2_or_3() {
    for (signo, expected) in [(libc::SIGINT, 1), (libc::SIGTERM, 2), (libc::SIGCHLD, 3)] {
        let mut command = pause();
        fail_sigaction_for(&mut command, signo as u32);
        let (code, _, _) = output(&mut command);
        assert_eq!(code, expected, "rt_sigaction failing for signal {signo}");
    }
}

#[test]
fn idle_pause_uses_no_cpu() {
    let guard = started(&mut pause());
    let before = proc_stat(guard.pid()).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let after = proc_stat(guard.pid()).unwrap();
    assert_eq!(after.state, 'S', "pause must sleep");
    assert_eq!(
        after.cpu_ticks, before.cpu_ticks,
        "an idle pause must not use CPU time"
    );
}

#[test]
fn statically_linked() {
    let path = bin("pause");
    let (_, file, _) = output(Command::new("file").arg("-L").arg(&path));
    assert!(
        file.contains("statically linked") || file.contains("static-pie linked"),
        "{file}"
    );
    let (code, out, err) = output(Command::new("ldd").arg(&path));
    assert_ne!(code, 0, "ldd must find no dynamic dependencies: {out}");
    assert!(
        format!("{out}{err}").contains("not a dynamic executable"),
        "{out}{err}"
    );
}

/// pause as PID 1 of a new PID namespace: (unshare guard, pause's host pid).
fn pause_as_pid1() -> (Guard, PidGuard) {
    let unshare = Guard(
        Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child"])
            .arg(bin("pause"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn unshare"),
    );
    let pid = first_child(unshare.pid()).expect("unshare started pause");
    let status = wait_for(Duration::from_secs(5), || {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        s.contains("NSpid:").then_some(s)
    })
    .unwrap();
    let nspid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .unwrap();
    assert_eq!(
        nspid.split_whitespace().last(),
        Some("1"),
        "pause must be PID 1 of its namespace"
    );
    (unshare, PidGuard(pid))
}

/// Run a shell script inside pause's PID namespace and wait for the shell itself.
fn in_namespace(pause_pid: i32, script: &str) {
    // No pipes: background children would hold them open after the shell exits.
    let status = tests::nsenter(pause_pid)
        .args(["-p", "--", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run nsenter");
    assert!(status.success(), "{script}: {status}");
}

#[test]
fn as_pid_1_it_reaps_every_orphan() {
    let (_unshare, pause) = pause_as_pid1();
    // Ten children whose parent exits at once: they are re-parented to pause.
    in_namespace(
        pause.0,
        "for i in 1 2 3 4 5 6 7 8 9 10; do (sleep 0.6; exit 7) & done; exit 0",
    );
    let adopted = wait_for(Duration::from_secs(5), || {
        let n = children_of(pause.0).len();
        (n >= 10).then_some(n)
    });
    assert!(
        adopted.is_some(),
        "the orphans must be re-parented to pause"
    );
    // Once they exit, none may stay a zombie.
    let reaped = wait_for(Duration::from_secs(5), || {
        children_of(pause.0).is_empty().then_some(())
    });
    let left: Vec<_> = children_of(pause.0);
    assert!(reaped.is_some(), "zombies left under pause: {left:?}");
}

#[test]
fn as_pid_1_a_stopped_child_neither_wakes_pause_nor_is_reaped() {
    let (_unshare, pause) = pause_as_pid1();
    // An orphan that stops itself; setsid keeps the kernel from sending the
    // orphaned process group SIGHUP/SIGCONT.
    in_namespace(pause.0, "setsid sh -c 'kill -STOP $$; exit 0' & exit 0");
    let stopped = wait_for(Duration::from_secs(5), || {
        children_of(pause.0).into_iter().find(|c| c.state == 'T')
    })
    .expect("a stopped orphan under pause");
    let _child = PidGuard(stopped.pid);
    let before = proc_stat(pause.0).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let after = proc_stat(pause.0).unwrap();
    assert_eq!(
        after.cpu_ticks, before.cpu_ticks,
        "pause must not spin on a stopped child"
    );
    assert_eq!(after.state, 'S');
    assert_eq!(
        proc_stat(stopped.pid).map(|s| s.state),
        Some('T'),
        "a stopped child is not reaped"
    );
    // Once it dies, pause reaps it.
    kill(Pid::from_raw(stopped.pid), Signal::SIGKILL).unwrap();
    let gone = wait_for(Duration::from_secs(5), || {
        proc_stat(stopped.pid).is_none().then_some(())
    });
    assert!(
        gone.is_some(),
        "pause must reap the killed child: {:?}",
        proc_stat(stopped.pid)
    );
}

#[test]
fn as_pid_1_sigterm_from_the_parent_namespace_shuts_down_cleanly() {
    let (mut unshare, pause) = pause_as_pid1();
    let before = proc_stat(pause.0).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        proc_stat(pause.0).unwrap().cpu_ticks,
        before.cpu_ticks,
        "idle as PID 1 too"
    );
    kill(Pid::from_raw(pause.0), Signal::SIGTERM).unwrap();
    let status = unshare.0.wait().unwrap();
    let mut err = String::new();
    unshare
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(
        err, "Shutting down, got signal: Terminated\n",
        "as PID 1 there is no warning"
    );
}
