//! Assembler and disassembler of data-flow engine programs (docs/dataflow.md).
//!
//! One instruction per line; `#` starts a comment:
//!
//! ```text
//! stream a pe size=2 base=0x1000 loop=64,2 loop=3,-400   # slot, destination, loops innermost first
//! stream b tile=5 size=1 base=0x3001 loop=40,96
//! stream w dram size=4 base=0x9000 loop=6,4
//! stream a pe size=4 narrow base=0x40 loop=256,4   # master weights read as MAC weights
//! run
//! end
//! ```
//!
//! The binary form is one 32-bit word per line in hexadecimal (`0x...`), the way program memory is
//! loaded. Errors name the line and the problem.

use crate::cli::{AsmArgs, DisasmArgs};
use anyhow::{bail, Context, Result};
use nt_hdl::config::MAX_LANES;
use nt_hdl::config::{LANE_BUFFER_ADDR_BITS, OPERAND_BUFFER_ADDR_BITS};
use nt_hdl::dataflow_program::{decode, encode, Descriptor, Dest, Instr, Slot};
use nt_hdl::pe_feeder::field::OPB_REDUCTIONS_BITS;
use nt_hdl::pe_feeder::{Feed, FeedSetting, WindowField, REDUCE_BITS};

fn parse_int(s: &str) -> Result<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(&h.replace('_', ""), 16)
    } else {
        body.replace('_', "").parse::<i64>()
    }
    .with_context(|| format!("`{s}` is not a number"))?;
    Ok(if neg { -v } else { v })
}

fn parse_stream(words: &[&str]) -> Result<Descriptor> {
    let slot = match words.first().copied() {
        Some("a") => Slot::A,
        Some("b") => Slot::B,
        Some("w") => Slot::W,
        Some(s) => bail!("unknown slot `{s}` (a, b or w)"),
        None => bail!("stream needs a slot (a, b or w)"),
    };
    let mut dest = None;
    let mut size = None;
    let mut narrow = false;
    let mut base = None;
    let mut loops = vec![];
    for w in &words[1..] {
        let (key, val) = w.split_once('=').unwrap_or((w, ""));
        match key {
            "pe" if val.is_empty() => dest = Some(Dest::Pe),
            "dram" if val.is_empty() => dest = Some(Dest::Dram),
            "narrow" if val.is_empty() => narrow = true,
            "tile" => {
                let t = parse_int(val)?;
                if !(0..=255).contains(&t) {
                    bail!("tile {t} out of range 0..255");
                }
                dest = Some(Dest::Tile(t as u8));
            }
            "size" => size = Some(parse_int(val)?),
            "base" => {
                let b = parse_int(val)?;
                if !(0..=u32::MAX as i64).contains(&b) {
                    bail!("base {b} is not a 32-bit address");
                }
                base = Some(b as u32);
            }
            "loop" => {
                let (c, s) = val
                    .split_once(',')
                    .with_context(|| format!("`{w}`: expected loop=COUNT,STRIDE"))?;
                let c = parse_int(c)?;
                let s = parse_int(s)?;
                if !(0..=u32::MAX as i64).contains(&c) {
                    bail!("loop count {c} out of range");
                }
                if !(i32::MIN as i64..=i32::MAX as i64).contains(&s) {
                    bail!("stride {s} does not fit 32 bits");
                }
                loops.push((c as u32, s as i32));
            }
            _ => bail!("unknown field `{w}`"),
        }
    }
    let d = Descriptor {
        slot,
        dest: dest.context("missing destination (pe, tile=N or dram)")?,
        size: size.context("missing size=")? as u32,
        narrow,
        base: base.context("missing base=")?,
        loops,
    };
    d.check()?;
    Ok(d)
}

/// PE mode names in `PeMode` order (the code the `pe op` word carries).
const MODE_NAMES: [&str; 6] = ["forward", "backward", "gradient", "update", "max", "select"];
const _: () = assert!(MODE_NAMES.len() == nt_hdl::ops::PeMode::ALL.len());
const ACT_NAMES: [&str; 5] = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"];

fn name_index(names: &[&str], v: &str, what: &str) -> Result<u8> {
    names
        .iter()
        .position(|n| *n == v)
        .map(|i| i as u8)
        .ok_or_else(|| anyhow::anyhow!("{what} `{v}` is not one of {}", names.join(", ")))
}

fn kv(w: &str) -> Result<(String, String)> {
    let (k, v) = w
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("`{w}` is not key=value"))?;
    Ok((k.to_string(), v.to_string()))
}

/// `pe op mode=M act=A feed=F [opb_step] [opa_wrap] [fill_a] [opa_base=N]`,
/// `pe shape reduce=R lanes=L`, `pe eta=E`, `pe by_lane start=S`, `pe fill_start start=S`,
/// `pe opa_blocks blocks=N`, `pe opb_buffer reductions=N`, `pe opb_across rows=N`,
/// `pe window FIELD=N` (FIELD one of `WindowField`'s names), `pe split_fill`.
fn parse_pe(words: &[&str]) -> Result<FeedSetting> {
    match words.first().copied() {
        Some("op") => {
            let (mut mode, mut act, mut feed) = (None, 0, None);
            let (mut opb_step, mut opa_wrap, mut fill_a, mut opa_base) = (false, false, false, 0);
            for w in &words[1..] {
                match *w {
                    "opb_step" => opb_step = true,
                    "opa_wrap" => opa_wrap = true,
                    "fill_a" => fill_a = true,
                    _ => {
                        let (k, v) = kv(w)?;
                        match k.as_str() {
                            "mode" => mode = Some(name_index(&MODE_NAMES, &v, "mode")?),
                            "act" => act = name_index(&ACT_NAMES, &v, "activation")?,
                            "feed" => {
                                let names = Feed::ALL.map(|f| f.name());
                                feed = Some(Feed::ALL[name_index(&names, &v, "feed")? as usize])
                            }
                            "opa_base" => opa_base = entry(&v, "opa_base")?,
                            _ => bail!("unknown pe op field `{k}`"),
                        }
                    }
                }
            }
            Ok(FeedSetting::Op {
                mode: mode.ok_or_else(|| anyhow::anyhow!("pe op needs mode="))?,
                act,
                feed: feed.ok_or_else(|| anyhow::anyhow!("pe op needs feed="))?,
                opb_step,
                opa_wrap,
                fill_a,
                opa_base,
            })
        }
        Some("shape") => {
            let (mut reduce, mut lanes) = (None, None);
            for w in &words[1..] {
                let (k, v) = kv(w)?;
                let n = parse_int(&v)?;
                match k.as_str() {
                    "reduce" if (1..1 << REDUCE_BITS).contains(&n) => reduce = Some(n as u32),
                    "lanes" if (1..=MAX_LANES as i64).contains(&n) => lanes = Some(n as u32),
                    "reduce" | "lanes" => bail!("{k}={n} is out of range"),
                    _ => bail!("unknown pe shape field `{k}`"),
                }
            }
            Ok(FeedSetting::Shape {
                reduce: reduce.ok_or_else(|| anyhow::anyhow!("pe shape needs reduce="))?,
                lanes: lanes.ok_or_else(|| anyhow::anyhow!("pe shape needs lanes="))?,
            })
        }
        Some(what @ ("by_lane" | "fill_start")) => {
            // A fill start may end in `pairs`.
            let pairs = what == "fill_start" && words.last() == Some(&"pairs");
            let fields = &words[1..words.len() - pairs as usize];
            let v = match fields {
                [w] => match kv(w)? {
                    (k, v) if k == "start" => v,
                    (k, _) => bail!("unknown pe {what} field `{k}`"),
                },
                _ => bail!("pe {what} takes start=S"),
            };
            if what == "fill_start" {
                return Ok(FeedSetting::FillStart {
                    start: entry(&v, "start")?,
                    pairs,
                });
            }
            let n = parse_int(&v)?;
            if !(0..1 << REDUCE_BITS).contains(&n) {
                bail!("start={n} is out of range");
            }
            Ok(FeedSetting::ByLane { start: n as u32 })
        }
        Some("opa_blocks") => {
            let blocks = sole_field(words, "blocks", 1..=1 << LANE_BUFFER_ADDR_BITS)?;
            Ok(FeedSetting::OpaBlocks { blocks })
        }
        Some("split_fill") => match words {
            [_] => Ok(FeedSetting::SplitFill),
            _ => bail!("pe split_fill takes no fields"),
        },
        Some("opb_buffer") => {
            let reductions = sole_field(words, "reductions", 0..=(1 << OPB_REDUCTIONS_BITS) - 1)?;
            Ok(FeedSetting::OpbBuffer { reductions })
        }
        Some("opb_across") => {
            let rows = sole_field(words, "rows", 1..=(1 << OPERAND_BUFFER_ADDR_BITS) - 1)?;
            Ok(FeedSetting::OpbAcross { rows })
        }
        Some("window") => {
            let [_, w] = words else {
                bail!("pe window takes one field=value");
            };
            let (k, _) = kv(w)?;
            let Some(field) = WindowField::ALL.into_iter().find(|f| f.name() == k) else {
                let names: Vec<&str> = WindowField::ALL.iter().map(|f| f.name()).collect();
                bail!("unknown pe window field `{k}` (one of {})", names.join(", "));
            };
            let most = (1 << OPERAND_BUFFER_ADDR_BITS) - 1;
            let value = sole_field(words, field.name(), 1..=most)?;
            Ok(FeedSetting::Window { field, value })
        }
        Some(w) if w.starts_with("eta=") => {
            let n = parse_int(&w[4..])?;
            if !(0..=u16::MAX as i64).contains(&n) {
                bail!("eta={n} does not fit 16 bits");
            }
            Ok(FeedSetting::Eta(n as u16))
        }
        _ => bail!(
            "pe takes `op ...`, `shape ...`, `eta=...`, `by_lane start=...`, `fill_start start=...`, `opa_blocks blocks=...`, `opb_buffer reductions=...`, `opb_across rows=...`, `window FIELD=N` or `split_fill`"
        ),
    }
}

/// A lane buffer entry.
fn entry(v: &str, what: &str) -> Result<u32> {
    let n = parse_int(v)?;
    if !(0..1 << LANE_BUFFER_ADDR_BITS).contains(&n) {
        bail!("{what}={n} is out of range");
    }
    Ok(n as u32)
}

fn pe_text(f: &FeedSetting) -> String {
    match *f {
        FeedSetting::Op {
            mode,
            act,
            feed,
            opb_step,
            opa_wrap,
            fill_a,
            opa_base,
        } => format!(
            "pe op mode={} act={} feed={}{}{}{}{}",
            MODE_NAMES.get(mode as usize).unwrap_or(&"reserved"),
            ACT_NAMES.get(act as usize).unwrap_or(&"identity"),
            feed.name(),
            if opb_step { " opb_step" } else { "" },
            if opa_wrap { " opa_wrap" } else { "" },
            if fill_a { " fill_a" } else { "" },
            if opa_base > 0 {
                format!(" opa_base={opa_base}")
            } else {
                String::new()
            }
        ),
        FeedSetting::Shape { reduce, lanes } => format!("pe shape reduce={reduce} lanes={lanes}"),
        FeedSetting::Eta(e) => format!("pe eta={e:#x}"),
        FeedSetting::ByLane { start } => format!("pe by_lane start={start}"),
        FeedSetting::FillStart { start, pairs } => format!(
            "pe fill_start start={start}{}",
            if pairs { " pairs" } else { "" }
        ),
        FeedSetting::OpaBlocks { blocks } => format!("pe opa_blocks blocks={blocks}"),
        FeedSetting::OpbBuffer { reductions } => format!("pe opb_buffer reductions={reductions}"),
        FeedSetting::OpbAcross { rows } => format!("pe opb_across rows={rows}"),
        FeedSetting::SplitFill => "pe split_fill".to_string(),
        FeedSetting::Window { field, value } => format!("pe window {}={value}", field.name()),
    }
}

/// Assembles program text into instructions; errors name the line.
pub fn assemble(text: &str) -> Result<Vec<Instr>> {
    let mut out = vec![];
    for (n, line) in text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        let words: Vec<&str> = code.split_whitespace().collect();
        let instr = match words[0] {
            "run" if words.len() == 1 => Ok(Instr::Run),
            "end" if words.len() == 1 => Ok(Instr::End),
            "run" | "end" => Err(anyhow::anyhow!("`{}` takes no operands", words[0])),
            "stream" => parse_stream(&words[1..]).map(Instr::Stream),
            "pe" => parse_pe(&words[1..]).map(Instr::Pe),
            w => Err(anyhow::anyhow!("unknown instruction `{w}`")),
        }
        .with_context(|| format!("line {}", n + 1))?;
        out.push(instr);
    }
    if out.last() != Some(&Instr::End) {
        bail!(
            "line {}: the program must finish with `end`",
            text.lines().count()
        );
    }
    Ok(out)
}

/// The text form of instructions (assembles back to the same words).
pub fn disassemble(program: &[Instr]) -> String {
    let mut s = String::new();
    for i in program {
        match i {
            Instr::Run => s.push_str("run\n"),
            Instr::End => s.push_str("end\n"),
            Instr::Pe(f) => {
                s.push_str(&pe_text(f));
                s.push('\n');
            }
            Instr::Stream(d) => {
                let slot = match d.slot {
                    Slot::A => "a",
                    Slot::B => "b",
                    Slot::W => "w",
                };
                let dest = match d.dest {
                    Dest::Pe => "pe".to_string(),
                    Dest::Tile(t) => format!("tile={t}"),
                    Dest::Dram => "dram".to_string(),
                };
                s.push_str(&format!(
                    "stream {slot} {dest} size={}{} base={:#x}",
                    d.size,
                    if d.narrow { " narrow" } else { "" },
                    d.base
                ));
                for (c, st) in &d.loops {
                    s.push_str(&format!(" loop={c},{st}"));
                }
                s.push('\n');
            }
        }
    }
    s
}

/// Reads the binary form: one hexadecimal word per line.
pub fn parse_words(text: &str) -> Result<Vec<u32>> {
    let mut out = vec![];
    for (n, line) in text.lines().enumerate() {
        let t = line.split('#').next().unwrap_or("").trim();
        if t.is_empty() {
            continue;
        }
        let h = t.strip_prefix("0x").unwrap_or(t);
        let v = u32::from_str_radix(h, 16)
            .with_context(|| format!("line {}: `{t}` is not a 32-bit hexadecimal word", n + 1))?;
        out.push(v);
    }
    Ok(out)
}

pub fn asm_command(args: &AsmArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let program = assemble(&text).with_context(|| format!("{}", args.input.display()))?;
    let words: String = encode(&program)
        .iter()
        .map(|w| format!("0x{w:08x}\n"))
        .collect();
    match &args.out {
        Some(p) => {
            std::fs::write(p, words).with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            print!("{words}");
            Ok(())
        }
    }
}

pub fn disasm_command(args: &DisasmArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let words = parse_words(&text).with_context(|| format!("{}", args.input.display()))?;
    let program = decode(&words).with_context(|| format!("{}", args.input.display()))?;
    print!("{}", disassemble(&program));
    Ok(())
}

/// The one `key=N` field of the `pe` setting `words` (`pe NAME key=N`), in `range`.
fn sole_field(words: &[&str], key: &str, range: std::ops::RangeInclusive<i64>) -> Result<u32> {
    let name = words[0];
    let n = match words[1..] {
        [w] => match kv(w)? {
            (k, v) if k == key => parse_int(&v)?,
            (k, _) => bail!("unknown pe {name} field `{k}`"),
        },
        _ => bail!("pe {name} takes {key}=N"),
    };
    if !range.contains(&n) {
        bail!("{key}={n} is out of range");
    }
    Ok(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
# two reads and a write-back
stream a pe size=2 base=0x1000 loop=64,2 loop=3,-400
stream b tile=5 size=1 base=0x3001 loop=40,96
stream w dram size=4 base=0x9000 loop=6,4   # results
stream a pe size=4 narrow base=0x40 loop=256,4
run
end
";

    #[test]
    fn assembles_and_round_trips_through_binary() {
        let p = assemble(EXAMPLE).unwrap();
        assert_eq!(p.len(), 6);
        assert!(matches!(&p[3], Instr::Stream(d) if d.narrow && d.size == 4));
        let words = encode(&p);
        assert_eq!(words.len(), 2 + 4 + 4 + 4 + 2 + 2 + 1 + 1);
        let back = decode(&words).unwrap();
        assert_eq!(back, p);
        assert_eq!(assemble(&disassemble(&back)).unwrap(), p);
    }

    fn err(text: &str) -> String {
        format!("{:#}", assemble(text).unwrap_err())
    }

    #[test]
    fn errors_name_line_and_problem() {
        assert!(err("run\njump 3\nend").contains("line 2: unknown instruction `jump`"));
        assert!(err("stream q pe size=2 base=0 loop=1,0\nend").contains("line 1: unknown slot `q`"));
        assert!(err("\nstream a pe size=3 base=0 loop=1,0\nend").contains("line 2: element size 3"));
        assert!(err("stream a pe size=2 base=0 loop=0,2\nend").contains("line 1: loop 0: count 0"));
        assert!(err("stream a pe size=2 base=0\nend").contains("line 1: 0 loops"));
        assert!(err("stream w pe size=2 base=0 loop=1,0\nend").contains("destination must be dram"));
        assert!(err("stream a pe size=2 narrow base=0 loop=1,0\nend").contains("narrowed stream"));
        assert!(err("stream a pe size=2 base=zz loop=1,0\nend").contains("`zz` is not a number"));
        assert!(err("stream a pe size=2 base=0 loop=1,0").contains("must finish with `end`"));
        assert!(err("run 4\nend").contains("line 1: `run` takes no operands"));
    }

    #[test]
    fn pe_settings_round_trip_in_every_mode() {
        for mode in MODE_NAMES {
            let text = format!("pe op mode={mode} act=tanh feed=compute opb_step\npe shape reduce=4 lanes=3\npe by_lane start=5\nend\n");
            let p = assemble(&text).unwrap();
            let back = decode(&encode(&p)).unwrap();
            assert_eq!(back, p);
            assert!(
                disassemble(&back).contains(&format!("mode={mode} ")),
                "{mode}"
            );
        }
        assert!(err("pe op mode=min feed=compute\nend").contains("mode `min` is not one of"));
        assert!(err("pe by_lane start=70000\nend").contains("start=70000 is out of range"));
        assert!(err("pe by_lane first=1\nend").contains("unknown pe by_lane field `first`"));
        // A compute that fills buffer A meanwhile, reading from a later entry.
        let text = "pe op mode=gradient act=identity feed=compute opa_wrap fill_a opa_base=16\npe fill_start start=0 pairs\npe opa_blocks blocks=1024\npe opb_buffer reductions=65535\npe opb_across rows=1023\npe split_fill\nend\n";
        let p = assemble(text).unwrap();
        assert_eq!(decode(&encode(&p)).unwrap(), p);
        assert_eq!(disassemble(&p), text);
        assert!(err("pe fill_start start=1024\nend").contains("start=1024 is out of range"));
        assert!(err("pe opa_blocks blocks=0\nend").contains("blocks=0 is out of range"));
        assert!(err("pe split_fill start=1\nend").contains("split_fill takes no fields"));
        assert!(err("pe opa_blocks blocks=1025\nend").contains("blocks=1025 is out of range"));
        assert!(
            err("pe opb_buffer reductions=65536\nend").contains("reductions=65536 is out of range")
        );
        assert!(err("pe op mode=forward feed=compute opa_base=-1\nend")
            .contains("opa_base=-1 is out of range"));
        // A window compute's ten fields, each at its largest.
        let text: String = WindowField::ALL
            .iter()
            .map(|f| format!("pe window {}=2047\n", f.name()))
            .chain(["end\n".to_string()])
            .collect();
        let p = assemble(&text).unwrap();
        assert_eq!(p.len(), 11);
        assert_eq!(decode(&encode(&p)).unwrap(), p);
        assert_eq!(disassemble(&p), text);
        assert!(err("pe window term_x=2048\nend").contains("term_x=2048 is out of range"));
        assert!(err("pe window map=0\nend").contains("map=0 is out of range"));
        assert!(err("pe window depth=3\nend").contains("unknown pe window field `depth`"));
        assert!(err("pe window\nend").contains("pe window takes one field=value"));
    }

    #[test]
    fn binary_errors_name_the_line() {
        assert!(format!("{:#}", parse_words("0x1\nxyz\n").unwrap_err()).contains("line 2"));
    }
}
