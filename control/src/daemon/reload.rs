//! SIGHUP: the configuration file read again and applied live, or
//! refused with the running configuration kept.

use masq_xsk::command::Command;

use super::filter::wan_filter;
use super::start::load;
use super::Control;
use crate::config::Mode;
use crate::eventlog;

impl Control {
    /// Applies the configuration file again; returns what changed.
    pub(super) fn reload(&mut self) -> Result<String, String> {
        let mut new = load(&self.opts)?;
        if self.rc.mode == Mode::Masquerade && new.mode == Mode::Masquerade {
            new.core.pool = self.rc.core.pool.clone();
        }
        // An unset MTU is the interface's, as now; an override applies.
        let m = crate::mtu::both(&new, self.kernel.view());
        new.core.lan_mtu = m[0].value;
        new.core.wan_mtu = m[1].value;
        // The box's own pool addresses were found at start.
        new.core.own_addrs = self.rc.core.own_addrs.clone();
        self.rc
            .core
            .live_change(&new.core)
            .map_err(|e| e.to_string())?;
        if let Some(k) = self.rc.restart_only_change(&new) {
            return Err(format!("{k}: changes only on restart"));
        }
        if new.pcp.enabled && self.pcp.is_none() {
            return Err(
                "pcp.enabled: the server was off at start; it starts only on restart".into(),
            );
        }
        if new.core == self.rc.core {
            if new.pcp == self.rc.pcp {
                return Ok("no change".into());
            }
            self.rc.pcp = new.pcp;
            if let Some(p) = &mut self.pcp {
                p.server
                    .reconfigure(self.rc.pcp.clone(), self.rc.core.inside.clone());
            }
            return Ok("pcp".into());
        }
        let pool_grew = new.core.pool != self.rc.core.pool;
        let cfg = Box::new(new.core.clone());
        self.ask_applied(|_| Command::Reconfigure(cfg.clone()))?;
        let mut what = describe_change(&self.rc.core, &new.core);
        if new.pcp != self.rc.pcp {
            what.push_str(", pcp");
        }
        self.rc = new;
        if let Some(p) = &mut self.pcp {
            p.server
                .reconfigure(self.rc.pcp.clone(), self.rc.core.inside.clone());
        }
        if let Some(l) = &self.eventlog {
            l.set_quotas(eventlog::Quotas::of(&self.rc.core));
        }
        if pool_grew {
            self.wan_prog
                .set_filter(&wan_filter(&self.rc, self.opts.l2_forward))
                .map_err(|e| format!("pool applied, but the XDP filter was not: {e}"))?;
            self.follow_lan_filter();
        }
        Ok(what)
    }
}

/// One line naming what a reload changed.
fn describe_change(old: &masq_core::Config, new: &masq_core::Config) -> String {
    let changed = [
        ("timeouts", old.timeouts != new.timeouts),
        ("limits", old.limits != new.limits),
        ("filtering", old.filtering != new.filtering),
        (
            "inbound_refresh",
            old.inbound_refresh != new.inbound_refresh,
        ),
        ("mss_clamp", old.mss_clamp != new.mss_clamp),
        ("icmp", old.icmp != new.icmp),
        ("lan_mtu", old.lan_mtu != new.lan_mtu),
        ("wan_mtu", old.wan_mtu != new.wan_mtu),
        ("pool (addresses added)", old.pool != new.pool),
    ];
    let v: Vec<&str> = changed
        .iter()
        .filter(|(_, c)| *c)
        .map(|(name, _)| *name)
        .collect();
    if v.is_empty() {
        "other settings of the core".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_names_what_it_changed() {
        let old = masq_core::Config::default();
        let mut new = old.clone();
        new.mss_clamp = 1360;
        assert_eq!(describe_change(&old, &new), "mss_clamp");
        new.timeouts.udp += 60;
        assert_eq!(describe_change(&old, &new), "timeouts, mss_clamp");
        new = old.clone();
        new.icmp.rate_per_subscriber += 1;
        assert_eq!(describe_change(&old, &new), "icmp");
        new = old.clone();
        new.wan_mtu = 1492;
        assert_eq!(describe_change(&old, &new), "wan_mtu");
    }
}
