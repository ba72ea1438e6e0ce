//! Behavioural model of one vault's DRAM: banks x rows x columns of real storage behind the command
//! interface the vault controller drives (ACT, RD, WR, PRE, REF), and a timing checker that fails
//! on the first violated constraint, naming it, the bank and the cycle.
//!
//! Cycle convention (the controller's): [`Dram::step`] is called once per controller cycle `n` with
//! the command the controller issued in that cycle and the write-data beat it drives in that cycle;
//! it returns the read-data beat on the bus in that cycle. A RD issued in cycle `n` puts its
//! beats on the bus in cycles `n+CL .. n+CL+BL-1`; a WR issued in cycle `n` expects its beats in
//! cycles `n+CWL .. n+CWL+BL-1`, exactly then and never otherwise.
//!
//! Constraints checked (all in controller cycles, see `nt_hdl::dram_config`):
//! same bank: RCD (ACT to RD/WR), RAS (ACT to PRE), RP (PRE to ACT), RC (ACT to ACT),
//! RTP (RD to PRE), WR (end of write data to PRE);
//! any bank: RRD (ACT to ACT), FAW (at most four ACTs in any FAW-cycle window), CCD (column to
//! column, at least BL so bursts never overlap on the data bus), WTR (end of write data to RD),
//! RTRS (idle bus cycles between a read burst and a following write burst), RFC (REF to ACT or
//! REF), REF only with every bank precharged for at least RP, and REFI: no more than REFI plus a
//! drain allowance ([`refresh_grace`]) between refreshes. Protocol errors (RD/WR to a closed bank,
//! ACT to an open one, PRE to a closed one, rows or columns out of range, missing or unexpected
//! write data) are reported the same way.

use nt_hdl::dram_config::{DramConfig, DramTiming};
// The command port's encoding is the controller's interface; the model decodes it.
use nt_hdl::vault_controller::cmd_code;
use std::collections::{HashMap, VecDeque};
use std::fmt;

/// A command on the vault's command bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Nop,
    Act { bank: usize, row: usize },
    Rd { bank: usize, col: usize },
    Wr { bank: usize, col: usize },
    Pre { bank: usize },
    Ref,
}

impl Command {
    /// Decodes the controller's command port values.
    pub fn decode(code: u64, bank: usize, row: usize, col: usize) -> Command {
        match code {
            cmd_code::ACT => Command::Act { bank, row },
            cmd_code::RD => Command::Rd { bank, col },
            cmd_code::WR => Command::Wr { bank, col },
            cmd_code::PRE => Command::Pre { bank },
            cmd_code::REF => Command::Ref,
            _ => Command::Nop,
        }
    }
}

/// A write-data beat: `bytes_per_cycle / 4` little-endian 32-bit words and a byte mask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beat {
    pub words: Vec<u32>,
    pub mask: u32,
}

/// A violated constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The constraint's name, e.g. `tRCD`.
    pub constraint: &'static str,
    pub bank: Option<usize>,
    pub cycle: u64,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cycle {}: {} violated", self.cycle, self.constraint)?;
        if let Some(b) = self.bank {
            write!(f, " on bank {b}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

impl std::error::Error for Violation {}

/// Longest a refresh may come after its due time: the controller stops activating when a refresh
/// falls due, then waits for the open banks to become prechargeable (RAS after an ACT or write
/// recovery after a write), precharges them and waits RP.
pub fn refresh_grace(t: &DramTiming) -> u64 {
    (t.ras.max(t.cwl + t.bl + t.wr).max(t.rtp) + t.rp + t.ccd + 4) as u64
}

#[derive(Clone, Debug, Default)]
struct BankState {
    open_row: Option<usize>,
    last_act: Option<u64>,
    last_pre: Option<u64>,
    last_rd: Option<u64>,
    /// Cycle after the last write-data beat.
    last_wr_end: Option<u64>,
}

/// Counts of commands seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub act: u64,
    pub rd: u64,
    pub wr: u64,
    pub pre: u64,
    pub refresh: u64,
}

pub struct Dram {
    cfg: DramConfig,
    t: DramTiming,
    cycle: u64,
    banks: Vec<BankState>,
    acts: VecDeque<u64>,
    last_act_any: Option<u64>,
    last_col: Option<u64>,
    last_wr_end_any: Option<u64>,
    /// The last burst on the data bus: (first cycle, end cycle, is_write).
    last_burst: Option<(u64, u64, bool)>,
    last_ref: Option<u64>,
    /// Reads in flight: (first beat cycle, burst data).
    reads: VecDeque<(u64, Vec<u8>)>,
    /// Writes awaiting data: (first beat cycle, storage key).
    writes: VecDeque<(u64, u64)>,
    storage: HashMap<u64, Vec<u8>>,
    pub stats: Stats,
}

fn since(now: u64, then: Option<u64>) -> u64 {
    then.map_or(u64::MAX, |t| now - t)
}

impl Dram {
    pub fn new(cfg: &DramConfig) -> Dram {
        Dram {
            cfg: cfg.clone(),
            t: cfg.timing(),
            cycle: 0,
            banks: vec![BankState::default(); cfg.banks],
            acts: VecDeque::new(),
            last_act_any: None,
            last_col: None,
            last_wr_end_any: None,
            last_burst: None,
            last_ref: None,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
            storage: HashMap::new(),
            stats: Stats::default(),
        }
    }

    pub fn timing(&self) -> &DramTiming {
        &self.t
    }

    fn key(&self, bank: usize, row: usize, col: usize) -> u64 {
        let field = bank ^ (row & self.cfg.bank_xor_mask() as usize);
        ((row * self.cfg.banks + field) * self.cfg.columns() + col) as u64
    }

    /// Byte address of a burst under the controller's mapping (row, bank, column, offset from the
    /// top bit down).
    pub fn address_of(&self, bank: usize, row: usize, col: usize) -> u64 {
        self.key(bank, row, col) * self.cfg.burst_bytes() as u64
    }

    /// Reads `len` bytes at byte address `addr` directly (a back door for tests and loaders).
    pub fn peek(&self, addr: u64, len: usize) -> Vec<u8> {
        let bb = self.cfg.burst_bytes() as u64;
        (addr..addr + len as u64)
            .map(|a| {
                self.storage
                    .get(&(a / bb))
                    .map_or(0, |v| v[(a % bb) as usize])
            })
            .collect()
    }

    /// Writes bytes at byte address `addr` directly (a back door for tests and loaders).
    pub fn poke(&mut self, addr: u64, data: &[u8]) {
        let bb = self.cfg.burst_bytes() as u64;
        for (i, &b) in data.iter().enumerate() {
            let a = addr + i as u64;
            self.storage
                .entry(a / bb)
                .or_insert_with(|| vec![0; bb as usize])[(a % bb) as usize] = b;
        }
    }

    fn fail(&self, constraint: &'static str, bank: Option<usize>, detail: String) -> Violation {
        Violation {
            constraint,
            bank,
            cycle: self.cycle,
            detail,
        }
    }

    fn need(
        &self,
        constraint: &'static str,
        bank: Option<usize>,
        elapsed: u64,
        min: u32,
        what: &str,
    ) -> Result<(), Violation> {
        if elapsed < min as u64 {
            return Err(self.fail(
                constraint,
                bank,
                format!("{what} {elapsed} cycles apart, needs {min}"),
            ));
        }
        Ok(())
    }

    fn check_bank(&self, bank: usize) -> Result<(), Violation> {
        if bank >= self.cfg.banks {
            return Err(self.fail(
                "bank range",
                Some(bank),
                format!("only {} banks", self.cfg.banks),
            ));
        }
        Ok(())
    }

    /// A burst on the data bus from `start` for BL cycles must not overlap the previous one, and
    /// a write burst after a read burst leaves RTRS idle cycles.
    fn check_bus(&self, bank: usize, start: u64, write: bool) -> Result<(), Violation> {
        if let Some((_, end, was_write)) = self.last_burst {
            let gap = if !was_write && write { self.t.rtrs } else { 0 };
            if start < end + gap as u64 {
                return Err(self.fail(
                    if gap > 0 { "tRTRS" } else { "data bus" },
                    Some(bank),
                    format!(
                        "burst from cycle {start} collides with the burst ending at cycle {end} (+{gap} idle)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// One controller cycle: applies `cmd` and the write beat driven in this cycle; returns the
    /// read beat on the bus in this cycle.
    pub fn step(&mut self, cmd: Command, wbeat: Option<&Beat>) -> Result<Option<Beat>, Violation> {
        let n = self.cycle;
        let t = self.t;
        if since(n, self.last_ref.or(Some(0))) > t.refi as u64 + refresh_grace(&t) {
            return Err(self.fail(
                "tREFI",
                None,
                format!(
                    "no refresh since cycle {} (interval {} + grace {})",
                    self.last_ref.unwrap_or(0),
                    t.refi,
                    refresh_grace(&t)
                ),
            ));
        }
        match cmd {
            Command::Nop => {}
            Command::Act { bank, row } => {
                self.check_bank(bank)?;
                if row >= self.cfg.rows {
                    return Err(self.fail("row range", Some(bank), format!("row {row}")));
                }
                let b = &self.banks[bank];
                if let Some(r) = b.open_row {
                    return Err(self.fail(
                        "ACT to open bank",
                        Some(bank),
                        format!("row {r} is open"),
                    ));
                }
                self.need("tRP", Some(bank), since(n, b.last_pre), t.rp, "PRE and ACT")?;
                self.need("tRC", Some(bank), since(n, b.last_act), t.rc, "ACT and ACT")?;
                self.need(
                    "tRRD",
                    Some(bank),
                    since(n, self.last_act_any),
                    t.rrd,
                    "ACTs",
                )?;
                self.need(
                    "tRFC",
                    Some(bank),
                    since(n, self.last_ref),
                    t.rfc,
                    "REF and ACT",
                )?;
                while self.acts.front().is_some_and(|&a| n - a >= t.faw as u64) {
                    self.acts.pop_front();
                }
                if self.acts.len() >= 4 {
                    return Err(self.fail(
                        "tFAW",
                        Some(bank),
                        format!(
                            "fifth ACT within {} cycles (ACTs at {:?})",
                            t.faw, self.acts
                        ),
                    ));
                }
                self.acts.push_back(n);
                let b = &mut self.banks[bank];
                b.open_row = Some(row);
                b.last_act = Some(n);
                self.last_act_any = Some(n);
                self.stats.act += 1;
            }
            Command::Rd { bank, col } | Command::Wr { bank, col } => {
                let write = matches!(cmd, Command::Wr { .. });
                let name = if write { "WR" } else { "RD" };
                self.check_bank(bank)?;
                if col >= self.cfg.columns() {
                    return Err(self.fail("column range", Some(bank), format!("column {col}")));
                }
                let b = &self.banks[bank];
                let Some(row) = b.open_row else {
                    return Err(self.fail(
                        "column command to closed bank",
                        Some(bank),
                        name.to_string(),
                    ));
                };
                self.need(
                    "tRCD",
                    Some(bank),
                    since(n, b.last_act),
                    t.rcd,
                    &format!("ACT and {name}"),
                )?;
                self.need(
                    "tCCD",
                    Some(bank),
                    since(n, self.last_col),
                    t.ccd.max(t.bl),
                    "column commands",
                )?;
                if !write {
                    self.need(
                        "tWTR",
                        Some(bank),
                        since(n, self.last_wr_end_any),
                        t.wtr,
                        "end of write data and RD",
                    )?;
                }
                let start = n + if write { t.cwl } else { t.cl } as u64;
                self.check_bus(bank, start, write)?;
                self.last_burst = Some((start, start + t.bl as u64, write));
                self.last_col = Some(n);
                let key = self.key(bank, row, col);
                if write {
                    let end = start + t.bl as u64;
                    self.banks[bank].last_wr_end = Some(end);
                    self.last_wr_end_any = Some(end);
                    self.writes.push_back((start, key));
                    self.stats.wr += 1;
                } else {
                    let data = self
                        .storage
                        .get(&key)
                        .cloned()
                        .unwrap_or_else(|| vec![0; self.cfg.burst_bytes()]);
                    self.reads.push_back((start, data));
                    self.banks[bank].last_rd = Some(n);
                    self.stats.rd += 1;
                }
            }
            Command::Pre { bank } => {
                self.check_bank(bank)?;
                let b = &self.banks[bank];
                if b.open_row.is_none() {
                    return Err(self.fail(
                        "PRE to closed bank",
                        Some(bank),
                        "nothing to precharge".into(),
                    ));
                }
                self.need(
                    "tRAS",
                    Some(bank),
                    since(n, b.last_act),
                    t.ras,
                    "ACT and PRE",
                )?;
                self.need("tRTP", Some(bank), since(n, b.last_rd), t.rtp, "RD and PRE")?;
                let wr_end = b.last_wr_end.map_or(u64::MAX, |e| n.saturating_sub(e));
                if b.last_wr_end.is_some_and(|e| n < e) {
                    return Err(self.fail(
                        "tWR",
                        Some(bank),
                        "PRE while write data is on the bus".into(),
                    ));
                }
                self.need("tWR", Some(bank), wr_end, t.wr, "end of write data and PRE")?;
                let b = &mut self.banks[bank];
                b.open_row = None;
                b.last_pre = Some(n);
                self.stats.pre += 1;
            }
            Command::Ref => {
                for (i, b) in self.banks.iter().enumerate() {
                    if b.open_row.is_some() {
                        return Err(self.fail(
                            "REF with open bank",
                            Some(i),
                            "every bank must be precharged".into(),
                        ));
                    }
                    self.need("tRP", Some(i), since(n, b.last_pre), t.rp, "PRE and REF")?;
                    self.need("tRC", Some(i), since(n, b.last_act), t.rc, "ACT and REF")?;
                }
                self.need("tRFC", None, since(n, self.last_ref), t.rfc, "REF and REF")?;
                self.last_ref = Some(n);
                self.stats.refresh += 1;
            }
        }

        // Write data: a beat is due exactly when a write burst covers this cycle.
        let bpc = self.cfg.bytes_per_cycle;
        let due = self
            .writes
            .front()
            .filter(|(s, _)| n >= *s)
            .map(|&(s, key)| ((n - s) as usize, key));
        match (due, wbeat) {
            (Some((k, key)), Some(beat)) => {
                let bb = self.cfg.burst_bytes();
                let line = self.storage.entry(key).or_insert_with(|| vec![0; bb]);
                for byte in 0..bpc {
                    if beat.mask >> byte & 1 == 1 {
                        line[k * bpc + byte] = (beat.words[byte / 4] >> (8 * (byte % 4))) as u8;
                    }
                }
                if k + 1 == t.bl as usize {
                    self.writes.pop_front();
                }
            }
            (Some((k, _)), None) => {
                return Err(self.fail("tCWL", None, format!("write data beat {k} missing")))
            }
            (None, Some(_)) => {
                return Err(self.fail("tCWL", None, "write data with no write burst due".into()))
            }
            (None, None) => {}
        }

        // Read data.
        let mut out = None;
        if let Some((s, data)) = self.reads.front() {
            if n >= *s {
                let k = (n - s) as usize;
                let words = (0..bpc / 4)
                    .map(|w| {
                        let o = k * bpc + 4 * w;
                        u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]])
                    })
                    .collect();
                out = Some(Beat {
                    words,
                    mask: if bpc == 32 { u32::MAX } else { (1 << bpc) - 1 },
                });
                if k + 1 == t.bl as usize {
                    self.reads.pop_front();
                }
            }
        }
        self.cycle += 1;
        Ok(out)
    }

    /// Cycles stepped so far.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cmds: &[(u64, Command)]) -> Result<Dram, Violation> {
        run_with(&DramConfig::default(), cmds)
    }

    fn run_with(cfg: &DramConfig, cmds: &[(u64, Command)]) -> Result<Dram, Violation> {
        let mut d = Dram::new(cfg);
        let last = cmds.iter().map(|c| c.0).max().unwrap_or(0) + 40;
        let mut wr_due: Vec<u64> = vec![];
        for n in 0..=last {
            let cmd = cmds.iter().find(|c| c.0 == n).map_or(Command::Nop, |c| c.1);
            if matches!(cmd, Command::Wr { .. }) {
                let s = n + d.timing().cwl as u64;
                wr_due.extend(s..s + d.timing().bl as u64);
            }
            let beat = Beat {
                words: vec![n as u32, !(n as u32)],
                mask: 0xFF,
            };
            d.step(cmd, wr_due.contains(&n).then_some(&beat))?;
        }
        Ok(d)
    }

    #[test]
    fn legal_sequence_round_trips_data() {
        let d = run(&[
            (0, Command::Act { bank: 1, row: 5 }),
            (17, Command::Wr { bank: 1, col: 2 }),
            (60, Command::Rd { bank: 1, col: 2 }),
            (80, Command::Pre { bank: 1 }),
        ])
        .unwrap();
        // Beat 0 of the write was driven in cycle 17 + CWL = 30.
        let a = d.address_of(1, 5, 2);
        assert_eq!(d.peek(a, 4), 30u32.to_le_bytes());
        assert_eq!(d.stats.act, 1);
    }

    #[test]
    fn each_constraint_is_caught_and_named() {
        let act = |bank, row| Command::Act { bank, row };
        let cases: Vec<(&str, Vec<(u64, Command)>)> = vec![
            (
                "tRCD",
                vec![(0, act(0, 0)), (16, Command::Rd { bank: 0, col: 0 })],
            ),
            ("tRAS", vec![(0, act(0, 0)), (33, Command::Pre { bank: 0 })]),
            (
                "tRP",
                vec![
                    (0, act(0, 0)),
                    (34, Command::Pre { bank: 0 }),
                    (50, act(0, 1)),
                ],
            ),
            ("tRRD", vec![(0, act(0, 0)), (7, act(1, 0))]),
            (
                "tCCD",
                vec![
                    (0, act(0, 0)),
                    (17, Command::Rd { bank: 0, col: 0 }),
                    (20, Command::Rd { bank: 0, col: 1 }),
                ],
            ),
            (
                "tWTR",
                vec![
                    (0, act(0, 0)),
                    (17, Command::Wr { bank: 0, col: 0 }),
                    (21 + 13, Command::Rd { bank: 0, col: 1 }),
                ],
            ),
            (
                "tWR",
                vec![
                    (0, act(0, 0)),
                    (17, Command::Wr { bank: 0, col: 0 }),
                    (17 + 13 + 4 + 18, Command::Pre { bank: 0 }),
                ],
            ),
            (
                "tRTP",
                vec![
                    (0, act(0, 0)),
                    (30, Command::Rd { bank: 0, col: 0 }),
                    (38, Command::Pre { bank: 0 }),
                ],
            ),
            ("tRFC", vec![(0, Command::Ref), (199, act(0, 0))]),
            (
                "REF with open bank",
                vec![(0, act(0, 0)), (60, Command::Ref)],
            ),
            (
                "column command to closed bank",
                vec![(3, Command::Wr { bank: 2, col: 0 })],
            ),
        ];
        for (name, cmds) in cases {
            let v = run(&cmds)
                .err()
                .unwrap_or_else(|| panic!("{name} not caught"));
            assert_eq!(v.constraint, name, "{v}");
            assert_eq!(v.cycle, cmds.last().unwrap().0, "{v}");
        }
    }

    #[test]
    fn faw_and_rc_are_caught_where_other_constraints_do_not_imply_them() {
        // With the defaults RRD (8) implies FAW (17) and RAS + RP = RC: loosen them to expose both.
        let act = |bank, row| Command::Act { bank, row };
        let mut cfg = DramConfig {
            rrd: 1.0,
            ..Default::default()
        };
        let cmds: Vec<_> = (0..5).map(|i| (i as u64, act(i, 0))).collect();
        let v = run_with(&cfg, &cmds).err().unwrap();
        assert_eq!((v.constraint, v.bank, v.cycle), ("tFAW", Some(4), 4), "{v}");
        cfg.rp = 5.0;
        let cmds = [
            (0, act(3, 0)),
            (34, Command::Pre { bank: 3 }),
            (45, act(3, 1)),
        ];
        let v = run_with(&cfg, &cmds).err().unwrap();
        assert_eq!((v.constraint, v.bank, v.cycle), ("tRC", Some(3), 45), "{v}");
    }

    #[test]
    fn missing_refresh_is_caught() {
        let mut d = Dram::new(&DramConfig::default());
        let limit = d.timing().refi as u64 + refresh_grace(d.timing());
        for _ in 0..=limit {
            d.step(Command::Nop, None).unwrap();
        }
        let v = d.step(Command::Nop, None).unwrap_err();
        assert_eq!(v.constraint, "tREFI");
    }
}
