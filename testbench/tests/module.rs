//! The whole module in rust-hdl: host interface, program faults, the network between tiles.

use nt_hdl::dataflow_program::{encode, Descriptor, Dest, Instr, Slot};
use nt_hdl::host_interface::{SEED, STATUS};
use nt_hdl::Config;
use nt_testbench::module_driver::{ModuleHost, ModuleSim, ProgramFault};

fn small() -> Config {
    Config::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/small.toml"),
        &[],
    )
    .unwrap()
}

fn stream(slot: Slot, dest: Dest, size: u32, base: u32, loops: &[(u32, i32)]) -> Instr {
    Instr::Stream(Descriptor {
        slot,
        dest,
        size,
        base,
        loops: loops.to_vec(),
    })
}

#[test]
fn host_registers_read_back_and_idle_tiles_report_done() {
    let mut m = ModuleSim::<64>::new(&small()).unwrap();
    m.host_write(SEED, 0xDEAD_BEEF).unwrap();
    assert_eq!(m.host_read(SEED).unwrap(), 0xDEAD_BEEF);
    // Empty programs: every tile finishes at once.
    for t in 0..m.tiles() {
        m.load_program(t, &encode(&[Instr::End])).unwrap();
    }
    m.run(100).unwrap();
    assert_eq!(m.host_read(STATUS).unwrap() & 0b111, 0b001);
}

#[test]
fn a_program_fault_names_the_tile_and_the_fault() {
    let config = small();
    let mut m = ModuleSim::<64>::new(&config).unwrap();
    let outside = config.dram.vault_bytes() as u32;
    for t in 0..m.tiles() {
        let prog = if t == 2 {
            vec![
                stream(Slot::A, Dest::Pe, 2, outside - 4, &[(4, 2)]),
                Instr::Run,
                Instr::End,
            ]
        } else {
            vec![Instr::End]
        };
        m.load_program(t, &encode(&prog)).unwrap();
    }
    let err = m.run(10_000).unwrap_err();
    let fault = err.downcast_ref::<ProgramFault>().expect("a program fault");
    assert_eq!((fault.tile, fault.code), (2, 6));
    assert!(err.to_string().contains("outside the vault"), "{err}");
}

#[test]
fn a_tile_copies_a_block_into_another_vault_over_the_network() {
    let config = small();
    let mut m = ModuleSim::<64>::new(&config).unwrap();
    let data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0x5A).collect();
    m.drams[0].poke(0x1000, &data);
    let block = |dest: Dest| stream(Slot::A, dest, 2, 0x1000, &[(8, 2), (4, 16)]);
    for t in 0..m.tiles() {
        let prog = match t {
            0 => vec![block(Dest::Tile(3)), Instr::Run, Instr::End],
            3 => vec![
                stream(Slot::W, Dest::Dram, 2, 0x2000, &[(8, 2), (4, 16)]),
                Instr::Run,
                Instr::End,
            ],
            _ => vec![Instr::End],
        };
        m.load_program(t, &encode(&prog)).unwrap();
    }
    m.run(20_000).unwrap();
    m.drain().unwrap();
    assert_eq!(m.drams[3].peek(0x2000, 64), data);
    assert!(m.counters(0).unwrap().flits_sent >= 2 * 32);
    // Nothing else was written in the other vaults.
    assert_eq!(m.drams[1].peek(0x2000, 64), vec![0; 64]);
}
