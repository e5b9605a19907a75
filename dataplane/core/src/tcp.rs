//! TCP session states after RFC 7857 section 2.1 and RFC 6146 section
//! 3.5.2, seen from a NAT44: "out" is the inside (subscriber) side, "in" the
//! external side. `docs/tcp-states.md` draws the same table, under the
//! names [`TcpState::name`] gives (the admin answers and the exit report
//! print those too).

use crate::wire::tcp::{FIN, RST, SYN};

/// State of a tracked TCP session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TcpState {
    /// An inside SYN was seen; waiting for the external SYN (RFC 6146
    /// "V6 INIT"). Transitory timer.
    SynOut = 1,
    /// An external SYN opened the session through a mapping; waiting for
    /// the inside SYN (RFC 6146 "V4 INIT"). Incoming-SYN timer.
    SynIn = 2,
    /// SYNs seen both ways. Established timer.
    Established = 3,
    /// FIN seen from inside only. Established timer.
    FinOut = 4,
    /// FIN seen from outside only. Established timer.
    FinIn = 5,
    /// FIN seen both ways. Transitory timer.
    FinBoth = 6,
    /// RST seen. Transitory timer; any later non-RST segment returns the
    /// session to `Established` (RFC 6146 "TRANS").
    Reset = 7,
}

/// Direction of a segment through the NAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// From the inside (LAN) to the outside.
    Out,
    /// From the outside (WAN) to the inside.
    In,
}

/// Which timer a state runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpTimer {
    /// `timeouts.tcp_established`.
    Established,
    /// `timeouts.tcp_transitory`.
    Transitory,
    /// `timeouts.tcp_incoming_syn`.
    IncomingSyn,
}

impl TcpState {
    /// Decodes a stored state.
    pub fn from_u8(v: u8) -> Option<TcpState> {
        Some(match v {
            1 => TcpState::SynOut,
            2 => TcpState::SynIn,
            3 => TcpState::Established,
            4 => TcpState::FinOut,
            5 => TcpState::FinIn,
            6 => TcpState::FinBoth,
            7 => TcpState::Reset,
            _ => return None,
        })
    }

    /// The state's name as operators read it: `syn_out`, `syn_in`,
    /// `established`, `fin_out`, `fin_in`, `fin_both` or `reset`.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::SynOut => "syn_out",
            TcpState::SynIn => "syn_in",
            TcpState::Established => "established",
            TcpState::FinOut => "fin_out",
            TcpState::FinIn => "fin_in",
            TcpState::FinBoth => "fin_both",
            TcpState::Reset => "reset",
        }
    }

    /// The timer of this state.
    pub fn timer(self) -> TcpTimer {
        match self {
            TcpState::SynIn => TcpTimer::IncomingSyn,
            TcpState::Established | TcpState::FinOut | TcpState::FinIn => TcpTimer::Established,
            TcpState::SynOut | TcpState::FinBoth | TcpState::Reset => TcpTimer::Transitory,
        }
    }

    /// The state after a segment with `flags` travelling `dir`.
    pub fn step(self, dir: Dir, flags: u8) -> TcpState {
        use TcpState::*;
        if flags & RST != 0 {
            return match self {
                // A RST before the handshake completes leaves the opening
                // timer running; RFC 6146 ignores it there.
                SynOut | SynIn => self,
                _ => Reset,
            };
        }
        match (self, dir) {
            (SynOut, Dir::In) if flags & SYN != 0 => Established,
            (SynIn, Dir::Out) if flags & SYN != 0 => Established,
            (Established, Dir::Out) if flags & FIN != 0 => FinOut,
            (Established, Dir::In) if flags & FIN != 0 => FinIn,
            (FinOut, Dir::In) if flags & FIN != 0 => FinBoth,
            (FinIn, Dir::Out) if flags & FIN != 0 => FinBoth,
            (Reset, _) => Established,
            (s, _) => s,
        }
    }
}

impl core::fmt::Display for TcpState {
    /// The name; width and alignment apply, so tables can pad it.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::ACK;
    use Dir::{In, Out};
    use TcpState::*;

    #[test]
    fn transitions() {
        let cases = [
            (SynOut, In, SYN | ACK, Established),
            (SynOut, In, SYN, Established), // simultaneous open
            (SynOut, Out, SYN, SynOut),     // retransmitted SYN
            (SynOut, In, ACK, SynOut),
            (SynOut, In, RST, SynOut),
            (SynIn, Out, SYN | ACK, Established),
            (SynIn, In, SYN, SynIn),
            (Established, Out, ACK, Established),
            (Established, Out, FIN | ACK, FinOut),
            (Established, In, FIN | ACK, FinIn),
            (Established, In, RST, Reset),
            (FinOut, In, FIN | ACK, FinBoth),
            (FinOut, Out, FIN | ACK, FinOut),
            (FinIn, Out, FIN, FinBoth),
            (FinIn, In, RST | ACK, Reset),
            (FinBoth, Out, ACK, FinBoth),
            (FinBoth, In, RST, Reset),
            (Reset, Out, ACK, Established),
            (Reset, In, RST, Reset),
        ];
        for (from, dir, flags, to) in cases {
            assert_eq!(from.step(dir, flags), to, "{from:?} {dir:?} {flags:#x}");
        }
    }

    #[test]
    fn timers() {
        assert_eq!(SynOut.timer(), TcpTimer::Transitory);
        assert_eq!(SynIn.timer(), TcpTimer::IncomingSyn);
        assert_eq!(Established.timer(), TcpTimer::Established);
        assert_eq!(FinOut.timer(), TcpTimer::Established);
        assert_eq!(FinBoth.timer(), TcpTimer::Transitory);
        assert_eq!(Reset.timer(), TcpTimer::Transitory);
        for v in 0..=255u8 {
            if let Some(s) = TcpState::from_u8(v) {
                assert_eq!(s as u8, v);
            }
        }
    }

    #[test]
    fn names() {
        let all: Vec<TcpState> = (0..=255).filter_map(TcpState::from_u8).collect();
        let names: Vec<String> = all.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names,
            [
                "syn_out",
                "syn_in",
                "established",
                "fin_out",
                "fin_in",
                "fin_both",
                "reset"
            ]
        );
        assert_eq!(format!("{:<12}|", FinBoth), "fin_both    |");
    }
}
