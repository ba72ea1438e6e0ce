# NeuroTrainer timing and power (OpenSTA). ntgen fills the {FIELDS}.
read_liberty {LIBERTY}
read_verilog {NETLIST}
link_design {TOP}
read_sdc {SDC}
{GATES}
report_checks -path_delay max -digits 2
# Switching activity measured in simulation (toggles per cycle): registers and primary inputs.
set_power_activity -global -activity {REG_ACTIVITY}
set_power_activity -input -activity {IN_ACTIVITY}
report_power -digits 6
# Every cell's power, which ntgen sums per block (hierarchical instances report zero here).
report_power -instances [get_cells -hierarchical *] -digits 9
