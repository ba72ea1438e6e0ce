# NeuroTrainer clock constraint. ntgen fills {PERIOD} (library time units) from clock.target_mhz.
create_clock -name core_clock -period {PERIOD} [get_ports {CLOCK_PORT}]
# Every block is registered at its boundary: ports are timed as launched and captured at the edge.
set_input_delay 0 -clock core_clock [delete_from_list [all_inputs] [get_ports {CLOCK_PORT}]]
set_output_delay 0 -clock core_clock [all_outputs]
