//! The one typed configuration of a NeuroTrainer module.
//!
//! Everything the generator, the simulators and the EDA flow need is set here, loaded from a TOML
//! file (`configs/default.toml` holds the defaults) and optionally overridden with `section.key=value`
//! pairs from the command line. [`Config::validate`] rejects bad values with the field's name; callers
//! validate before they write anything.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use crate::dram_config::{DramConfig, DramTiming, TimingUnit};

/// Largest tile grid side the generator supports.
pub const MAX_GRID_SIDE: usize = 8;
/// Largest number of MAC lanes in one processing engine.
pub const MAX_LANES: usize = 64;
/// Widest operand buffer address the PE's buffer port carries.
pub const OPERAND_BUFFER_ADDR_BITS: usize = 11;
/// Address width of the tile's lane buffers (up to 1024 entries per lane).
pub const LANE_BUFFER_ADDR_BITS: usize = 10;
/// The PLAN sigmoid's breakpoints need five fraction bits; 1.0 must fit a signed 16-bit value.
pub const FRAC_BITS_RANGE: (u32, u32) = (5, 14);
/// Master weights are 32-bit; one bit is the sign.
pub const MAX_GRAD_FRAC_BITS: u32 = 30;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub array: ArrayConfig,
    pub pe: PeConfig,
    pub format: FormatConfig,
    pub clock: ClockConfig,
    pub noc: NocConfig,
    pub dram: DramConfig,
    /// Settings of the EDA flow, not of the hardware (the emitted Verilog leaves them out).
    #[serde(skip_serializing_if = "FlowConfig::is_default")]
    pub flow: FlowConfig,
}

/// The grid of tiles (one tile per vault).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArrayConfig {
    pub rows: usize,
    pub cols: usize,
}

/// The processing engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeConfig {
    /// MAC lanes sharing one broadcast operand (power of two, 1..=64).
    pub lanes: usize,
    /// Entries of 16 bits in the broadcast-operand reuse buffer (power of two, 2..=2048). A
    /// convolution whose padded input maps fit it two at a time reads each map from DRAM once
    /// (`FeedSetting::Window`).
    pub operand_buffer_depth: usize,
    /// Entries per lane of each of the tile's two lane buffers (the per-lane operands held for
    /// reuse: weight rows, errors, biases, stored outputs), power of two, 2..=1024. A reduction
    /// longer than this does not fit a tile.
    pub lane_buffer_depth: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// 16-bit fixed point operands, 48-bit accumulators, 32-bit master weights (ARCHITECTURE.md s3).
    Fixed16,
}

/// Number formats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FormatConfig {
    pub profile: Profile,
    /// F: fraction bits of activations, MAC weights and errors.
    pub frac_bits: u32,
    /// G: fraction bits of master weights, biases and gradients.
    pub grad_frac_bits: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockConfig {
    /// Target clock frequency in MHz; the SDC period is derived from it.
    pub target_mhz: f64,
}

/// The EDA flow's settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowConfig {
    /// Liberty file or directory of `ntgen ppa` when neither `--liberty` nor `$NT_LIBERTY` names
    /// one; a relative path is taken from the configuration file's folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liberty: Option<std::path::PathBuf>,
}

impl FlowConfig {
    fn is_default(&self) -> bool {
        *self == FlowConfig::default()
    }
}

impl Default for ArrayConfig {
    fn default() -> Self {
        ArrayConfig { rows: 4, cols: 4 }
    }
}

impl Default for PeConfig {
    fn default() -> Self {
        PeConfig {
            lanes: 16,
            operand_buffer_depth: 2048,
            lane_buffer_depth: 256,
        }
    }
}

impl Default for FormatConfig {
    fn default() -> Self {
        FormatConfig {
            profile: Profile::Fixed16,
            frac_bits: 10,
            grad_frac_bits: 24,
        }
    }
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig { target_mhz: 1250.0 }
    }
}

fn power_of_two_in(field: &str, value: usize, lo: usize, hi: usize) -> Result<()> {
    if !value.is_power_of_two() || value < lo || value > hi {
        bail!("{field} = {value}: must be a power of two from {lo} to {hi}");
    }
    Ok(())
}

impl Config {
    /// Parses a TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config> {
        Self::from_toml_with_overrides(text, origin, &[])
    }

    /// Parses a TOML text, then applies `section.key=value` overrides (values in TOML syntax,
    /// bare words taken as strings), then validates.
    pub fn from_toml_with_overrides(
        text: &str,
        origin: &str,
        overrides: &[String],
    ) -> Result<Config> {
        let mut value: toml::Table =
            toml::from_str(text).with_context(|| format!("{origin}: not valid TOML"))?;
        for ov in overrides {
            apply_override(&mut value, ov)?;
        }
        // Deserialize from text (not from the table) so that errors quote the offending line.
        let merged = toml::to_string(&value).context("re-serializing the configuration")?;
        let config: Config =
            toml::from_str(&merged).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        config
            .validate()
            .with_context(|| format!("{origin}: invalid configuration"))?;
        Ok(config)
    }

    /// Loads and validates a configuration file, applying overrides.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration {}", path.display()))?;
        let mut config =
            Self::from_toml_with_overrides(&text, &path.display().to_string(), overrides)?;
        if let (Some(lib), Some(dir)) = (&config.flow.liberty, path.parent()) {
            if lib.is_relative() {
                config.flow.liberty = Some(dir.join(lib));
            }
        }
        Ok(config)
    }

    /// The hardware's configuration: this one without the flow's settings, as the emitted
    /// Verilog records it.
    pub fn hardware(&self) -> Config {
        Config {
            flow: FlowConfig::default(),
            ..self.clone()
        }
    }

    /// The configuration as TOML, the format `load` reads.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a Config always serializes")
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("array.rows", self.array.rows),
            ("array.cols", self.array.cols),
        ] {
            if v == 0 || v > MAX_GRID_SIDE {
                bail!("{field} = {v}: must be from 1 to {MAX_GRID_SIDE}");
            }
        }
        power_of_two_in("pe.lanes", self.pe.lanes, 1, MAX_LANES)?;
        power_of_two_in(
            "pe.operand_buffer_depth",
            self.pe.operand_buffer_depth,
            2,
            1 << OPERAND_BUFFER_ADDR_BITS,
        )?;
        power_of_two_in(
            "pe.lane_buffer_depth",
            self.pe.lane_buffer_depth,
            2,
            1 << LANE_BUFFER_ADDR_BITS,
        )?;
        let f = self.format.frac_bits;
        let (flo, fhi) = FRAC_BITS_RANGE;
        if f < flo || f > fhi {
            bail!("format.frac_bits = {f}: must be from {flo} to {fhi}");
        }
        let g = self.format.grad_frac_bits;
        if g < 2 * f || g > MAX_GRAD_FRAC_BITS {
            bail!(
                "format.grad_frac_bits = {g}: must be from 2 * format.frac_bits ({}) to {MAX_GRAD_FRAC_BITS}",
                2 * f
            );
        }
        self.noc.validate()?;
        let mhz = self.clock.target_mhz;
        if !mhz.is_finite() || mhz <= 0.0 || mhz > 10_000.0 {
            bail!("clock.target_mhz = {mhz}: must be a positive frequency up to 10000 MHz");
        }
        self.dram.validate()?;
        Ok(())
    }

    /// Clock period in picoseconds.
    pub fn clock_period_ps(&self) -> f64 {
        1.0e6 / self.clock.target_mhz
    }
}

/// Flit widths the router is generated for: rust-hdl widths are const generics, so each
/// supported width is one instantiation, selected from the configuration at run time.
pub const NOC_FLIT_WIDTHS: [usize; 2] = [32, 64];
/// Deepest router input buffer: its pointers are 4 bits wide.
pub const MAX_NOC_INPUT_BUFFER_DEPTH: usize = 16;

/// The network on chip joining the tiles (ARCHITECTURE.md section 1, Router).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NocConfig {
    /// Bits per flit on every link (one of [`NOC_FLIT_WIDTHS`]).
    pub flit_width: usize,
    /// Flits each router input port can hold (1..=16); it is also the credit count per link.
    pub input_buffer_depth: usize,
}

impl Default for NocConfig {
    fn default() -> Self {
        NocConfig {
            flit_width: 64,
            input_buffer_depth: 4,
        }
    }
}

impl NocConfig {
    fn validate(&self) -> Result<()> {
        if !NOC_FLIT_WIDTHS.contains(&self.flit_width) {
            bail!(
                "noc.flit_width = {}: must be one of {NOC_FLIT_WIDTHS:?}",
                self.flit_width
            );
        }
        let d = self.input_buffer_depth;
        if d == 0 || d > MAX_NOC_INPUT_BUFFER_DEPTH {
            bail!("noc.input_buffer_depth = {d}: must be from 1 to {MAX_NOC_INPUT_BUFFER_DEPTH}");
        }
        Ok(())
    }
}

/// Applies one `section.key=value` override to a TOML table.
fn apply_override(table: &mut toml::Table, ov: &str) -> Result<()> {
    let (path, raw) = ov
        .split_once('=')
        .with_context(|| format!("override `{ov}`: expected section.key=value"))?;
    let path = path.trim();
    let raw = raw.trim();
    // Parse the value as TOML; a bare word that is not TOML is taken as a string.
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut keys: Vec<&str> = path.split('.').collect();
    let last = keys.pop().filter(|k| !k.is_empty());
    let Some(last) = last else {
        bail!("override `{ov}`: empty key");
    };
    let mut cur = table;
    for k in keys {
        let entry = cur
            .entry(k.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => bail!("override `{ov}`: `{k}` is not a section"),
        };
    }
    cur.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_TOML: &str = include_str!("../../configs/default.toml");

    #[test]
    fn default_file_matches_built_in_defaults() {
        let c = Config::from_toml_str(DEFAULT_TOML, "default.toml").unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn the_flow_library_is_relative_to_the_file_and_left_out_of_the_hardware() {
        let dir = std::env::temp_dir().join(format!("nt_config_flow_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[flow]\nliberty = \"libs/x.lib\"\n").unwrap();
        let c = Config::load(&file, &[]).unwrap();
        assert_eq!(c.flow.liberty, Some(dir.join("libs/x.lib")));
        assert!(c.to_toml().contains("[flow]"));
        assert!(!c.hardware().to_toml().contains("flow"));
        assert_eq!(c.hardware(), Config::default());
        std::fs::write(&file, "[flow]\nlib = \"x\"\n").unwrap();
        let e = format!("{:#}", Config::load(&file, &[]).unwrap_err());
        assert!(e.contains("lib"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn round_trips_through_toml() {
        let mut c = Config::default();
        c.pe.lanes = 4;
        c.format.frac_bits = 8;
        let back = Config::from_toml_str(&c.to_toml(), "x").unwrap();
        assert_eq!(back, c);
    }

    fn err_of(text: &str) -> String {
        format!("{:#}", Config::from_toml_str(text, "t.toml").unwrap_err())
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        assert!(err_of("[pe]\nlanes = 12").contains("pe.lanes = 12"));
        assert!(err_of("[pe]\nlanes = 128").contains("pe.lanes"));
        assert!(err_of("[array]\nrows = 0").contains("array.rows"));
        assert!(err_of("[array]\ncols = 9").contains("array.cols"));
        assert!(err_of("[format]\nfrac_bits = 4").contains("format.frac_bits"));
        assert!(err_of("[format]\ngrad_frac_bits = 19").contains("format.grad_frac_bits"));
        assert!(err_of("[pe]\noperand_buffer_depth = 100").contains("pe.operand_buffer_depth"));
        assert!(err_of("[clock]\ntarget_mhz = -1.0").contains("clock.target_mhz"));
        assert!(err_of("[noc]\nflit_width = 48").contains("noc.flit_width = 48"));
        assert!(err_of("[noc]\ninput_buffer_depth = 0").contains("noc.input_buffer_depth"));
        assert!(err_of("[noc]\ninput_buffer_depth = 17").contains("noc.input_buffer_depth"));
        assert!(err_of("[dram]\nbanks = 12").contains("dram.banks"));
        assert!(err_of("[dram]\nrcd = 0").contains("dram.rcd"));
    }

    #[test]
    fn rejects_unknown_fields_and_wrong_types() {
        assert!(err_of("[pe]\nlanez = 4").contains("lanez"));
        assert!(err_of("[pe]\nlanes = \"four\"").contains("lanes"));
        assert!(err_of("[format]\nprofile = \"fp8\"").contains("fp8"));
        assert!(err_of("lanes = [").contains("not valid TOML"));
    }

    #[test]
    fn overrides_apply_before_validation() {
        let c = Config::from_toml_with_overrides(
            "",
            "x",
            &["pe.lanes=4".into(), "array.rows = 2".into()],
        )
        .unwrap();
        assert_eq!((c.pe.lanes, c.array.rows), (4, 2));
        let e = Config::from_toml_with_overrides("", "x", &["pe.lanes=3".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("pe.lanes = 3"));
        assert!(Config::from_toml_with_overrides("", "x", &["nokey".into()]).is_err());
    }
}
