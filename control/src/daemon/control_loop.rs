//! The control loop: it sleeps in poll(2) on the rtnetlink socket, the
//! admin listener and the HTTP server's wake-up socket (at most 100 ms)
//! and, between events, reacts to what the kernel's notifications changed,
//! applies a SIGHUP reload, serves the admin socket and `/metrics`, prints
//! the statistics line and watches the workers' heartbeats. Once a second
//! it retries what the workers did not take and asks the kernel again for
//! the neighbours it has not resolved; it never reads the kernel's tables
//! again on a timer. [`Control::ask`] is the one way it asks the workers
//! anything.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use masq_core::Shard;
use masq_xsk::command::{Command, Reply};

use super::report::stats_line;
use super::Control;
use crate::sys;

/// How long the control thread waits for the workers to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

impl Control {
    pub(super) fn run(
        &mut self,
        stop: &AtomicBool,
        hup: &AtomicBool,
        handles: &[JoinHandle<std::io::Result<Shard>>],
    ) -> Result<(), String> {
        let mut last_stats = Instant::now();
        let mut last_retry = Instant::now();
        self.follow_all();
        while !stop.load(Ordering::Relaxed) {
            {
                let mut fds = vec![self.kernel.fd(), self.admin.as_fd()];
                if let Some(h) = &self.http {
                    fds.push(h.wake_fd());
                }
                if let Some(fd) = self.pcp.as_ref().and_then(|p| p.fd()) {
                    fds.push(fd);
                }
                sys::wait_readable(&fds, Duration::from_millis(100));
            }
            match self.kernel.drain() {
                Ok(changes) => self.follow(&changes),
                Err(e) => {
                    // What was read before the error is in the view.
                    eprintln!("masq: rtnetlink: {e}");
                    self.follow_all();
                }
            }
            for note in self.kernel.take_notes() {
                eprintln!("masq: rtnetlink: {note}");
            }
            if last_retry.elapsed() >= Duration::from_secs(1) {
                last_retry = Instant::now();
                self.retry();
            }
            if hup.swap(false, Ordering::Relaxed) {
                match self.reload() {
                    Ok(what) => {
                        self.reloads.0 += 1;
                        eprintln!("masq: reloaded {}: {what}", self.opts.config.display());
                    }
                    Err(e) => {
                        self.reloads.1 += 1;
                        eprintln!(
                            "masq: reload of {} refused, running configuration kept: {e}",
                            self.opts.config.display()
                        );
                    }
                }
            }
            while let Ok((conn, _)) = self.admin.accept() {
                self.serve_admin(conn);
            }
            self.serve_http();
            self.serve_pcp();
            if self.opts.stats_interval > 0
                && last_stats.elapsed() >= Duration::from_secs(self.opts.stats_interval)
            {
                last_stats = Instant::now();
                eprintln!("masq: {}", stats_line(&self.shared));
            }
            self.watch_heartbeats();
            self.follow_routing();
            if handles.iter().any(|h| h.is_finished()) {
                return Err("a worker stopped".into());
            }
        }
        Ok(())
    }

    pub(super) fn now_s(&self) -> u32 {
        self.shared.epoch.elapsed().as_secs() as u32
    }

    /// Milliseconds on the workers' clock (the epoch they share).
    pub(super) fn now_ms(&self) -> u64 {
        self.shared.epoch.elapsed().as_millis() as u64
    }

    /// Reports workers whose heartbeat is older than `stall_timeout` (a
    /// worker publishes one at least every few hundred milliseconds, busy
    /// or idle), and their recovery.
    pub(super) fn watch_heartbeats(&mut self) {
        let now = self.now_ms();
        let limit = u64::from(self.rc.stall_timeout) * 1000;
        for (i, w) in self.shared.stats.iter().enumerate() {
            let beat = w.heartbeat_ms.load(Ordering::Relaxed);
            let age = now.saturating_sub(beat);
            let st = &mut self.stalls[i];
            match st.since {
                None if age > limit => {
                    st.since = Some(beat);
                    st.count += 1;
                    eprintln!(
                        "masq: error: worker {i} stalled: no heartbeat for {:.1} s; frames of its queue are not being forwarded",
                        age as f64 / 1000.0
                    );
                }
                Some(b) if beat != b => {
                    st.since = None;
                    eprintln!(
                        "masq: worker {i} recovered after a stall of {:.1} s",
                        beat.saturating_sub(b) as f64 / 1000.0
                    );
                }
                _ => {}
            }
        }
    }

    /// The stalled workers, as "worker 1 (no heartbeat for 3.2 s)".
    pub(super) fn stalled(&self) -> Vec<String> {
        (0..self.stalls.len())
            .filter_map(|i| self.stall_of(i))
            .collect()
    }

    /// Worker `i` as [`Control::stalled`] names it, if it is stalled.
    fn stall_of(&self, i: usize) -> Option<String> {
        let b = self.stalls.get(i)?.since?;
        Some(format!(
            "worker {i} (no heartbeat for {:.1} s)",
            self.now_ms().saturating_sub(b) as f64 / 1000.0
        ))
    }

    /// Sends one command to every worker and collects their answers (in
    /// worker order), or says which worker did not answer in time. With a
    /// worker stalled it fails at once rather than wait for it.
    pub(super) fn ask(&mut self, cmd: impl FnMut(usize) -> Command) -> Result<Vec<Reply>, String> {
        let all: Vec<usize> = (0..self.shared.mailboxes.len()).collect();
        self.ask_workers(&all, cmd)
    }

    /// Sends one command to worker `w` alone and waits for its answer, as
    /// [`Control::ask`] does.
    pub(super) fn ask_one(&mut self, w: usize, cmd: Command) -> Result<Reply, String> {
        if w >= self.shared.mailboxes.len() {
            return Err(format!("{cmd}: no worker {w}"));
        }
        let mut cmd = Some(cmd);
        let mut replies =
            self.ask_workers(&[w], |_| cmd.take().expect("one command for one worker"))?;
        Ok(replies.pop().expect("one answer from one worker"))
    }

    /// Sends `cmd(i)` to each worker `i` of `workers` and collects their
    /// answers in that order.
    fn ask_workers(
        &mut self,
        workers: &[usize],
        mut cmd: impl FnMut(usize) -> Command,
    ) -> Result<Vec<Reply>, String> {
        let stalled: Vec<String> = workers.iter().filter_map(|&i| self.stall_of(i)).collect();
        if !stalled.is_empty() {
            return Err(format!("stalled: {}", stalled.join(", ")));
        }
        self.seq += 1;
        let seq = self.seq;
        let mut what = String::new();
        for &i in workers {
            let c = cmd(i);
            if what.is_empty() {
                what = c.to_string();
            }
            if let Err((_, c)) = self.shared.mailboxes[i].commands.push((seq, c)) {
                return Err(format!("{c}: worker {i}: its command ring is full"));
            }
        }
        let mut got: Vec<Option<Reply>> = workers.iter().map(|_| None).collect();
        let deadline = Instant::now() + ASK_TIMEOUT;
        while got.iter().any(Option::is_none) {
            for (k, &i) in workers.iter().enumerate() {
                while let Some((s, r)) = self.shared.mailboxes[i].replies.pop() {
                    if s == seq {
                        got[k] = Some(r);
                    }
                }
            }
            if Instant::now() > deadline {
                let late: Vec<String> = workers
                    .iter()
                    .zip(&got)
                    .filter(|(_, r)| r.is_none())
                    .map(|(i, _)| i.to_string())
                    .collect();
                return Err(format!(
                    "{what}: worker(s) {} did not answer within {} s",
                    late.join(","),
                    ASK_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        Ok(got.into_iter().flatten().collect())
    }

    /// [`Control::ask`] for a command each worker applies or refuses: the
    /// first refusal, naming its worker, is the error.
    pub(super) fn ask_applied(&mut self, cmd: impl FnMut(usize) -> Command) -> Result<(), String> {
        for (i, r) in self.ask(cmd)?.into_iter().enumerate() {
            if let Reply::Applied(Err(e)) = r {
                return Err(format!("worker {i}: {e}"));
            }
        }
        Ok(())
    }
}
