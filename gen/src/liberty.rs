//! The embedded cell library: `nt15_typ`, a 15nm-class Liberty library the project writes itself,
//! so the flow runs without any third-party library.
//!
//! It has the logic functions Yosys and ABC need (a buffer included), one reset flip-flop and
//! one integrated clock gate.
//! Every figure was taken from the NanGate 15nm Open Cell Library, typical corner (0.8 V, 25 C),
//! by `scripts/calibrate_embedded_lib.py`: area, leakage, mean input capacitance, and each cell's
//! delay, transition and internal-energy tables reduced to 3x3 tables per output edge (averaged
//! over its arcs) at 1, 30 and 200 ps input slew by 0.5, 8 and 50 fF load, between which the tools
//! interpolate. docs/flow.md states the measured accuracy.

/// One cell's figures: area (um^2), leakage (pW), input pin capacitances (fF), and the 3x3
/// tables (input slew `SLEWS` by load `LOADS`, row-major) of delay (ps), output transition (ps)
/// and internal energy per output transition (fJ), for a rising and a falling output apart (a
/// NOR4's rise is three times its fall: their mean would hide the slow edge from timing);
/// `clock_energy` and `data_energy` are the flip-flop's energy per transition of its clock and
/// data pins (fJ).
struct Fit {
    name: &'static str,
    area: f64,
    leakage: f64,
    /// Input pins in the real library's order: name, rise and fall capacitance (fF).
    pins: &'static [(&'static str, f64, f64)],
    rise_delay: [f64; POINTS],
    fall_delay: [f64; POINTS],
    rise_slew: [f64; POINTS],
    fall_slew: [f64; POINTS],
    rise_energy: [f64; POINTS],
    fall_energy: [f64; POINTS],
    clock_energy: f64,
    data_energy: f64,
}

/// Printed by `scripts/calibrate_embedded_lib.py` from the NanGate 15nm typical library. Some
/// measured figures happen to lie near mathematical constants; they are data, not those.
#[allow(clippy::approx_constant)]
const FITS: &[Fit] = &[
    Fit {
        name: "AND2_X1",
        area: 0.294912,
        leakage: 15419.4,
        pins: &[("A1", 0.9048, 1.0264), ("A2", 1.0136, 0.9058)],
        rise_delay: [
            3.6152, 9.4391, 39.2506, 6.9478, 12.8330, 42.7361, 12.7053, 20.3365, 51.7239,
        ],
        fall_delay: [
            2.9317, 8.0293, 35.0090, 6.7156, 11.8937, 38.8994, 12.4682, 19.3995, 47.1193,
        ],
        rise_slew: [
            1.6097, 11.7406, 69.6317, 2.3691, 12.0635, 69.7197, 5.4483, 15.1118, 71.9997,
        ],
        fall_slew: [
            1.2602, 10.3416, 62.1417, 2.2360, 10.5984, 62.1991, 5.4483, 13.5360, 63.6570,
        ],
        rise_energy: [
            0.1998, 0.3248, 0.3566, 0.6350, 0.6783, 0.7151, 3.3232, 3.7527, 4.3379,
        ],
        fall_energy: [
            1.0545, 1.1991, 1.2211, 1.3360, 1.5726, 1.6365, 4.0231, 4.4873, 5.2306,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "AND3_X1",
        area: 0.393216,
        leakage: 13725.8,
        pins: &[
            ("A1", 0.8335, 1.1112),
            ("A2", 0.9308, 0.9985),
            ("A3", 1.0127, 0.9024),
        ],
        rise_delay: [
            4.8510, 11.0828, 40.9681, 8.3273, 14.6186, 44.6158, 16.9990, 25.0797, 57.0074,
        ],
        fall_delay: [
            3.2367, 8.3700, 35.3657, 7.1497, 12.3760, 39.3814, 11.7628, 18.8031, 46.4009,
        ],
        rise_slew: [
            1.9763, 12.1560, 69.7632, 2.5833, 12.5405, 69.8792, 5.6950, 15.7902, 72.6153,
        ],
        fall_slew: [
            1.3409, 10.3740, 62.1517, 2.3375, 10.6502, 62.2061, 5.5942, 13.6580, 63.5577,
        ],
        rise_energy: [
            0.1958, 0.3220, 0.3604, 0.5560, 0.5897, 0.6282, 3.2007, 3.5378, 3.9430,
        ],
        fall_energy: [
            1.2243, 1.3916, 1.4219, 1.4475, 1.6999, 1.7647, 3.9551, 4.3991, 5.0692,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "AND4_X1",
        area: 0.442368,
        leakage: 11997.7,
        pins: &[
            ("A1", 0.8010, 1.1783),
            ("A2", 0.8934, 1.0721),
            ("A3", 0.9359, 0.9813),
            ("A4", 1.0103, 0.9029),
        ],
        rise_delay: [
            6.2307, 12.9522, 43.0049, 9.6728, 16.4558, 46.6295, 20.8257, 29.3391, 61.7245,
        ],
        fall_delay: [
            3.4970, 8.6806, 35.6938, 7.5646, 12.8456, 39.8565, 11.1893, 18.4006, 45.9072,
        ],
        rise_slew: [
            2.3735, 12.7529, 69.9272, 2.8325, 13.1457, 70.0555, 5.9752, 16.4850, 73.1483,
        ],
        fall_slew: [
            1.4241, 10.4219, 62.1650, 2.4173, 10.7070, 62.2166, 5.7995, 13.8693, 63.4972,
        ],
        rise_energy: [
            0.2113, 0.3213, 0.3594, 0.4948, 0.5235, 0.5557, 3.1136, 3.3741, 3.6427,
        ],
        fall_energy: [
            1.3748, 1.5767, 1.6167, 1.5614, 1.8343, 1.9016, 3.9218, 4.3590, 4.9797,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "AOI21_X1",
        area: 0.294912,
        leakage: 9790.6,
        pins: &[
            ("A1", 1.0403, 0.8988),
            ("A2", 1.1494, 0.8325),
            ("B", 1.0270, 0.9401),
        ],
        rise_delay: [
            2.4466, 10.7231, 56.3838, 5.8381, 16.7278, 62.3013, 14.3471, 36.9308, 98.9957,
        ],
        fall_delay: [
            1.8330, 7.8769, 41.0348, 4.3601, 13.7984, 47.3924, 4.8169, 25.4804, 80.8204,
        ],
        rise_slew: [
            2.9452, 19.8299, 114.8290, 7.4510, 23.2796, 114.8425, 24.3373, 49.2105, 139.6988,
        ],
        fall_slew: [
            2.1990, 13.9334, 80.1855, 7.5713, 18.9241, 80.7286, 27.2246, 49.9844, 115.7940,
        ],
        rise_energy: [
            0.8865, 0.9256, 0.9422, 1.1040, 1.0711, 0.9752, 3.6359, 3.7019, 2.7650,
        ],
        fall_energy: [
            -0.0000, -0.0000, -0.0000, 0.2105, 0.0298, -0.0000, 2.6310, 2.7064, 1.5857,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "AOI22_X1",
        area: 0.344064,
        leakage: 11894.4,
        pins: &[
            ("A1", 1.0403, 0.9593),
            ("A2", 1.1494, 0.8604),
            ("B1", 0.8957, 1.0020),
            ("B2", 0.9980, 0.9344),
        ],
        rise_delay: [
            2.6551, 10.7187, 55.2220, 6.1303, 16.8080, 61.2810, 13.8185, 35.9904, 97.8634,
        ],
        fall_delay: [
            2.4147, 10.1703, 52.6361, 5.2157, 15.6098, 58.1110, 7.9041, 29.7409, 90.3701,
        ],
        rise_slew: [
            3.1731, 19.5799, 111.8590, 7.9868, 23.2320, 111.8935, 26.4942, 51.8967, 139.1160,
        ],
        fall_slew: [
            3.2255, 18.8301, 106.7502, 8.2520, 22.6374, 106.8540, 27.5883, 52.0222, 134.8072,
        ],
        rise_energy: [
            0.9800, 1.0205, 1.0383, 1.1661, 1.1450, 1.0682, 3.5733, 3.6310, 2.6592,
        ],
        fall_energy: [
            -0.0001, -0.0001, -0.0001, 0.1601, 0.0077, -0.0001, 2.5124, 2.5032, 1.4052,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "BUF_X1",
        area: 0.245760,
        leakage: 15406.4,
        pins: &[("I", 1.0499, 0.9169)],
        rise_delay: [
            2.5190, 8.0878, 37.8654, 5.3959, 10.9635, 40.8135, 7.5562, 14.7447, 45.3986,
        ],
        fall_delay: [
            2.5753, 7.6454, 34.6136, 6.2423, 11.3911, 38.3996, 13.4327, 20.3916, 48.3353,
        ],
        rise_slew: [
            1.2652, 11.5175, 69.5105, 2.1765, 11.7211, 69.5816, 5.3510, 14.5497, 71.1666,
        ],
        fall_slew: [
            1.1904, 10.3225, 62.1370, 2.1371, 10.5680, 62.1939, 5.4104, 13.6667, 63.8720,
        ],
        rise_energy: [
            0.2234, 0.3288, 0.3502, 0.7401, 0.8036, 0.8426, 3.5765, 4.1027, 4.9324,
        ],
        fall_energy: [
            0.8660, 0.9936, 1.0071, 1.2241, 1.4622, 1.5208, 4.1724, 4.7063, 5.5709,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "BUF_X4",
        area: 0.393216,
        leakage: 46220.2,
        pins: &[("I", 2.0215, 1.8013)],
        rise_delay: [
            2.8686, 4.5508, 12.1709, 6.7083, 8.5677, 16.0605, 11.0300, 13.6987, 22.1926,
        ],
        fall_delay: [
            2.9885, 4.5908, 11.5141, 7.5591, 9.3764, 16.2251, 16.8832, 19.5190, 27.6635,
        ],
        rise_slew: [
            1.0444, 3.5059, 17.8624, 2.1411, 4.2765, 18.0097, 6.0270, 8.2925, 20.6292,
        ],
        fall_slew: [
            1.0687, 3.2450, 16.0165, 2.1980, 4.1177, 16.2013, 6.1439, 8.2926, 19.1408,
        ],
        rise_energy: [
            1.0148, 1.4198, 1.6894, 2.2603, 2.4340, 2.4780, 9.3751, 9.2542, 9.9812,
        ],
        fall_energy: [
            2.1905, 2.7293, 3.0180, 3.2229, 3.5592, 3.8816, 10.5183, 10.3994, 11.1056,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "DFFRNQ_X1",
        area: 1.277952,
        leakage: 44534.2,
        pins: &[
            ("D", 0.6225, 0.5349),
            ("RN", 1.0308, 1.0431),
            ("CLK", 0.7625, 0.7283),
        ],
        rise_delay: [
            10.6365, 17.1154, 47.0382, 15.2909, 21.7687, 51.6916, 24.0007, 30.4715, 60.3973,
        ],
        fall_delay: [
            5.5457, 11.1109, 38.0976, 10.8983, 16.5790, 43.4927, 21.6082, 27.8471, 54.3294,
        ],
        rise_slew: [
            2.5374, 12.5266, 69.8748, 2.5583, 12.5289, 69.8753, 2.6009, 12.5573, 69.8687,
        ],
        fall_slew: [
            1.9734, 10.7498, 62.1685, 2.9476, 11.0439, 62.1634, 5.9958, 12.5683, 62.1860,
        ],
        rise_energy: [
            1.6899, 1.8992, 1.9596, 2.1301, 2.3390, 2.4001, 5.0723, 5.6287, 6.0332,
        ],
        fall_energy: [
            1.4426, 2.1112, 2.1430, 1.9256, 2.4702, 2.4838, 4.9275, 5.2610, 5.2742,
        ],
        clock_energy: 0.7859,
        data_energy: 0.4787,
    },
    Fit {
        name: "INV_X1",
        area: 0.147456,
        leakage: 7702.7,
        pins: &[("I", 1.0802, 0.9324)],
        rise_delay: [
            1.1571, 6.6062, 36.3674, 3.6739, 13.3590, 43.5715, 8.3540, 29.8949, 82.8703,
        ],
        fall_delay: [
            1.0696, 6.0084, 32.9609, 2.6883, 12.1551, 39.9491, 1.9290, 23.2017, 74.9784,
        ],
        rise_slew: [
            1.1721, 11.3924, 69.3930, 5.3649, 16.6387, 69.9781, 20.8072, 43.1105, 105.1230,
        ],
        fall_slew: [
            1.0642, 10.1862, 62.0065, 5.3809, 15.8122, 62.8482, 21.3264, 43.1796, 100.5016,
        ],
        rise_energy: [
            0.4573, 0.5063, 0.5233, 0.8093, 0.7769, 0.6090, 3.6543, 3.9167, 2.9398,
        ],
        fall_energy: [
            -0.0000, -0.0000, -0.0000, 0.3096, 0.1033, -0.0000, 2.9679, 3.1891, 2.0644,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "MUX2_X1",
        area: 0.638976,
        leakage: 27088.1,
        pins: &[
            ("I0", 0.9949, 0.9398),
            ("I1", 0.9948, 0.9398),
            ("S", 2.1298, 1.8410),
        ],
        rise_delay: [
            4.4454, 10.3515, 40.2014, 7.6202, 13.5766, 43.4746, 12.5201, 19.8654, 50.7242,
        ],
        fall_delay: [
            4.6658, 10.1654, 37.2195, 8.3186, 13.9215, 41.0250, 17.1283, 24.2359, 52.3754,
        ],
        rise_slew: [
            1.7691, 11.8414, 69.6598, 2.3583, 12.0846, 69.7231, 4.7603, 14.4676, 71.2808,
        ],
        fall_slew: [
            1.7658, 10.7287, 62.2963, 2.3324, 10.9989, 62.3604, 4.7698, 13.5264, 63.9675,
        ],
        rise_energy: [
            0.4781, 0.6205, 0.6612, 0.9397, 1.0362, 1.0732, 3.9639, 4.5223, 5.1581,
        ],
        fall_energy: [
            1.1800, 1.3980, 1.4385, 1.5215, 1.8060, 1.8636, 4.5333, 5.1768, 5.9067,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "NAND2_X1",
        area: 0.196608,
        leakage: 8003.5,
        pins: &[("A1", 0.9190, 1.0540), ("A2", 1.0326, 0.9135)],
        rise_delay: [
            1.4605, 6.8804, 36.6343, 4.1967, 13.5430, 43.7872, 7.6008, 28.4958, 81.8557,
        ],
        fall_delay: [
            1.8265, 9.5319, 51.9998, 4.0815, 15.0218, 57.4834, 6.9921, 30.1750, 90.7493,
        ],
        rise_slew: [
            1.5489, 11.7873, 69.8027, 6.6234, 17.2553, 70.3737, 24.7512, 48.2744, 108.1253,
        ],
        fall_slew: [
            2.1186, 17.7190, 105.5957, 6.4362, 21.5009, 105.6969, 22.7375, 47.1504, 132.0613,
        ],
        rise_energy: [
            0.6473, 0.6919, 0.7100, 0.9245, 0.8943, 0.7690, 3.4578, 3.6903, 2.6552,
        ],
        fall_energy: [
            -0.0000, -0.0000, -0.0000, 0.2228, 0.0321, -0.0000, 2.7602, 2.7960, 1.6993,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "NAND3_X1",
        area: 0.294912,
        leakage: 6454.0,
        pins: &[
            ("A1", 0.8368, 1.1451),
            ("A2", 0.9355, 1.0138),
            ("A3", 1.0263, 0.9065),
        ],
        rise_delay: [
            1.7020, 7.1384, 36.8975, 4.6327, 13.7807, 44.0231, 7.0089, 27.4014, 81.3180,
        ],
        fall_delay: [
            2.7036, 13.0874, 70.4622, 5.3009, 17.8104, 74.9704, 11.1409, 35.6105, 105.0614,
        ],
        rise_slew: [
            1.9348, 12.1836, 70.1693, 7.7963, 17.7564, 70.7299, 31.2738, 53.5537, 110.2826,
        ],
        fall_slew: [
            3.6275, 25.7467, 150.0544, 7.7938, 28.3627, 150.0690, 25.9835, 52.7561, 169.0738,
        ],
        rise_energy: [
            0.8162, 0.8687, 0.8877, 1.0398, 1.0332, 0.9326, 3.3716, 3.5377, 2.5344,
        ],
        fall_energy: [
            -0.0001, -0.0001, -0.0001, 0.1438, 0.0071, -0.0001, 2.6782, 2.5447, 1.4921,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "NAND4_X1",
        area: 0.344064,
        leakage: 4798.2,
        pins: &[
            ("A1", 0.8017, 1.2137),
            ("A2", 0.8943, 1.0950),
            ("A3", 0.9385, 0.9917),
            ("A4", 1.0206, 0.9059),
        ],
        rise_delay: [
            1.8955, 7.3835, 37.1580, 5.0317, 14.0368, 44.2703, 6.5073, 26.5466, 81.0312,
        ],
        fall_delay: [
            3.7070, 16.7349, 88.7676, 6.4729, 20.8179, 92.6160, 14.8423, 40.3965, 119.8188,
        ],
        rise_slew: [
            2.3168, 12.5904, 70.5721, 8.6486, 18.1805, 71.1234, 36.5708, 57.2391, 111.8796,
        ],
        fall_slew: [
            5.6067, 34.2718, 195.2573, 9.5374, 36.1664, 195.2563, 29.8952, 59.2358, 209.3328,
        ],
        rise_energy: [
            0.9684, 1.0411, 1.0678, 1.1564, 1.1779, 1.1051, 3.3223, 3.4366, 2.5032,
        ],
        fall_energy: [
            -0.0002, -0.0002, -0.0002, 0.0700, 0.0005, -0.0002, 2.6193, 2.3347, 1.3355,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "NOR2_X1",
        area: 0.196608,
        leakage: 7879.4,
        pins: &[("A1", 1.2184, 0.8272), ("A2", 1.0394, 0.9436)],
        rise_delay: [
            2.0185, 10.7469, 58.8179, 5.2088, 16.7132, 64.5478, 13.9777, 37.7961, 101.4238,
        ],
        fall_delay: [
            1.3390, 6.2539, 33.2014, 3.1654, 12.3532, 40.1513, 0.9331, 21.7065, 74.1085,
        ],
        rise_slew: [
            2.3908, 20.1679, 120.2798, 6.4520, 23.4596, 120.2540, 22.1542, 47.6135, 143.1360,
        ],
        fall_slew: [
            1.4023, 10.5356, 62.3649, 6.6095, 16.3519, 63.2013, 25.8181, 48.3687, 103.1710,
        ],
        rise_energy: [
            0.6401, 0.6819, 0.7005, 0.9074, 0.8686, 0.7429, 3.5165, 3.6065, 2.6906,
        ],
        fall_energy: [
            -0.0000, -0.0000, -0.0000, 0.2402, 0.0518, -0.0000, 2.5876, 2.7711, 1.6483,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "NOR3_X1",
        area: 0.294912,
        leakage: 6271.8,
        pins: &[
            ("A1", 1.3041, 0.7984),
            ("A2", 1.1483, 0.9004),
            ("A3", 1.0134, 0.9486),
        ],
        rise_delay: [
            3.0348, 14.9638, 80.7930, 6.5109, 20.0707, 85.5143, 18.4321, 43.8028, 118.8729,
        ],
        fall_delay: [
            1.5421, 6.4819, 33.4377, 3.5743, 12.5919, 40.3629, 0.1489, 20.5637, 73.6621,
        ],
        rise_slew: [
            4.1412, 29.5385, 171.9504, 8.0123, 31.7153, 171.9486, 25.3669, 54.0631, 187.5175,
        ],
        fall_slew: [
            1.7404, 10.8906, 62.7174, 7.6355, 16.7860, 63.5459, 31.6075, 52.7404, 104.9872,
        ],
        rise_energy: [
            0.8185, 0.8583, 0.8615, 1.0232, 0.9834, 0.8897, 3.5641, 3.4914, 2.6154,
        ],
        fall_energy: [
            -0.0000, -0.0000, -0.0000, 0.1805, 0.0251, -0.0000, 2.3242, 2.4437, 1.3715,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "NOR4_X1",
        area: 0.344064,
        leakage: 4623.5,
        pins: &[
            ("A1", 1.3303, 0.7830),
            ("A2", 1.2127, 0.8785),
            ("A3", 1.1211, 0.9100),
            ("A4", 0.9982, 0.9564),
        ],
        rise_delay: [
            4.2113, 19.3084, 102.6853, 7.7530, 23.7198, 106.7265, 22.3361, 49.0830, 137.0850,
        ],
        fall_delay: [
            1.6978, 6.6950, 33.6699, 3.9593, 12.8413, 40.5809, -0.4706, 19.7092, 73.4343,
        ],
        rise_slew: [
            6.4290, 39.4711, 224.6772, 10.0941, 40.9706, 224.6788, 29.0555, 61.5613, 235.6530,
        ],
        fall_slew: [
            2.0709, 11.2510, 63.0675, 8.3126, 17.1565, 63.8882, 35.8606, 55.5120, 106.2942,
        ],
        rise_energy: [
            0.9943, 1.0340, 1.0410, 1.1519, 1.1113, 1.0525, 3.6270, 3.4353, 2.6129,
        ],
        fall_energy: [
            -0.0000, -0.0000, -0.0000, 0.1313, 0.0131, -0.0000, 2.1093, 2.1765, 1.1820,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "OAI21_X1",
        area: 0.294912,
        leakage: 9745.6,
        pins: &[
            ("A1", 1.0402, 0.8988),
            ("A2", 0.9012, 1.0090),
            ("B", 1.0275, 0.9086),
        ],
        rise_delay: [
            2.0212, 8.7751, 45.8582, 5.4418, 15.1949, 52.4285, 11.7594, 32.6721, 89.6921,
        ],
        fall_delay: [
            2.2023, 9.5136, 49.8712, 4.6811, 15.0667, 55.5518, 7.2399, 29.2716, 88.6099,
        ],
        rise_slew: [
            2.4611, 15.7303, 90.5657, 7.6134, 20.2965, 90.8913, 26.0793, 50.0074, 123.2523,
        ],
        fall_slew: [
            2.6004, 17.4077, 100.8316, 7.4107, 21.3562, 100.9873, 25.3026, 48.9509, 129.2094,
        ],
        rise_energy: [
            0.8755, 0.9188, 0.9372, 1.1354, 1.1005, 0.9867, 3.6982, 3.8256, 2.8117,
        ],
        fall_energy: [
            -0.0000, -0.0000, -0.0000, 0.1719, 0.0066, -0.0000, 2.6302, 2.6464, 1.5507,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "OAI22_X1",
        area: 0.344064,
        leakage: 11767.4,
        pins: &[
            ("A1", 1.1178, 0.8988),
            ("A2", 0.9554, 1.0090),
            ("B1", 1.1349, 0.8320),
            ("B2", 1.0001, 0.9399),
        ],
        rise_delay: [
            2.6972, 11.4742, 59.5418, 6.3827, 17.3333, 65.2322, 15.1937, 37.4961, 100.9328,
        ],
        fall_delay: [
            2.3818, 9.5204, 48.9129, 4.9654, 15.1851, 54.7436, 6.5902, 28.3384, 87.7903,
        ],
        rise_slew: [
            3.6603, 21.4596, 121.6074, 8.3810, 24.7785, 121.5990, 26.4662, 52.3473, 146.1674,
        ],
        fall_slew: [
            2.8003, 17.1972, 98.3124, 7.8666, 21.3273, 98.4913, 27.8376, 51.7285, 128.9858,
        ],
        rise_energy: [
            0.9720, 1.0143, 1.0385, 1.1871, 1.1530, 1.0729, 3.6174, 3.6600, 2.7011,
        ],
        fall_energy: [
            -0.0000, -0.0000, -0.0000, 0.1391, 0.0076, -0.0000, 2.4509, 2.4605, 1.3682,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "OR2_X1",
        area: 0.294912,
        leakage: 15871.8,
        pins: &[("A1", 1.1838, 0.8252), ("A2", 1.0191, 0.9415)],
        rise_delay: [
            2.8399, 8.4313, 38.2227, 5.8388, 11.4154, 41.2584, 6.3690, 13.4441, 43.8318,
        ],
        fall_delay: [
            3.7902, 9.1841, 36.1899, 7.9014, 13.4142, 40.5079, 19.1017, 26.4166, 55.0228,
        ],
        rise_slew: [
            1.3194, 11.5331, 69.5255, 2.2435, 11.7362, 69.5804, 5.2653, 14.3065, 70.9107,
        ],
        fall_slew: [
            1.5661, 10.6054, 62.2628, 2.3326, 10.9559, 62.3549, 5.3780, 14.0796, 64.5942,
        ],
        rise_energy: [
            0.2374, 0.3440, 0.3706, 0.6747, 0.7164, 0.7517, 3.2671, 3.6699, 4.3208,
        ],
        fall_energy: [
            0.9736, 1.1836, 1.2116, 1.2556, 1.5302, 1.5842, 3.9143, 4.4194, 5.0666,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "OR3_X1",
        area: 0.393216,
        leakage: 14408.3,
        pins: &[
            ("A1", 1.2770, 0.7980),
            ("A2", 1.1224, 0.8999),
            ("A3", 0.9990, 0.9482),
        ],
        rise_delay: [
            3.1069, 8.7277, 38.5343, 6.2633, 11.8719, 41.7131, 5.5472, 12.6885, 42.9256,
        ],
        fall_delay: [
            5.1703, 11.0396, 38.1541, 9.3573, 15.3275, 42.5605, 23.6194, 31.3696, 60.4836,
        ],
        rise_slew: [
            1.3901, 11.5608, 69.5372, 2.3161, 11.7699, 69.5903, 5.3335, 14.3534, 70.7915,
        ],
        fall_slew: [
            1.9632, 11.1074, 62.4255, 2.5638, 11.5051, 62.5442, 5.5801, 14.7204, 65.1633,
        ],
        rise_energy: [
            0.2447, 0.3490, 0.3795, 0.6214, 0.6504, 0.6812, 3.0520, 3.3841, 3.9390,
        ],
        fall_energy: [
            1.0785, 1.3685, 1.4135, 1.3051, 1.6362, 1.6910, 3.8434, 4.3240, 4.8427,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "OR4_X1",
        area: 0.442368,
        leakage: 12831.9,
        pins: &[
            ("A1", 1.3253, 0.7829),
            ("A2", 1.1901, 0.8785),
            ("A3", 1.0968, 0.9099),
            ("A4", 0.9877, 0.9555),
        ],
        rise_delay: [
            3.3298, 8.9927, 38.8152, 6.6723, 12.3252, 42.1676, 4.8954, 12.1689, 42.2987,
        ],
        fall_delay: [
            6.7133, 13.1292, 40.4949, 10.7677, 17.2723, 44.7649, 27.5790, 35.7621, 65.3551,
        ],
        rise_slew: [
            1.4611, 11.6047, 69.5468, 2.3841, 11.8158, 69.6013, 5.4874, 14.5099, 70.7202,
        ],
        fall_slew: [
            2.3960, 11.7943, 62.6969, 2.8392, 12.1857, 62.8215, 5.8374, 15.4052, 65.7023,
        ],
        rise_energy: [
            0.2497, 0.3502, 0.3822, 0.5823, 0.6025, 0.6302, 2.8751, 3.1541, 3.6393,
        ],
        fall_energy: [
            1.1886, 1.5451, 1.6161, 1.3614, 1.7450, 1.8174, 3.8221, 4.2916, 4.7255,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "XNOR2_X1",
        area: 0.442368,
        leakage: 28966.1,
        pins: &[("A1", 1.5058, 1.5714), ("A2", 1.9297, 1.7509)],
        rise_delay: [
            5.1136, 10.8365, 40.6566, 8.6745, 14.4230, 44.2792, 15.8400, 22.5391, 53.0792,
        ],
        fall_delay: [
            5.1080, 10.5861, 37.6254, 8.8581, 14.3355, 41.3937, 15.2904, 21.6729, 49.2150,
        ],
        rise_slew: [
            1.5760, 11.6757, 69.5894, 1.9911, 11.8420, 69.6282, 3.8866, 13.5319, 70.7466,
        ],
        fall_slew: [
            1.6927, 10.6945, 62.2814, 2.0830, 10.8451, 62.3201, 3.9120, 12.4483, 63.2013,
        ],
        rise_energy: [
            0.9458, 1.0780, 1.1172, 1.2161, 1.3525, 1.3918, 3.6779, 4.1903, 4.8251,
        ],
        fall_energy: [
            1.1036, 1.3415, 1.3805, 1.4050, 1.6511, 1.6961, 3.9792, 4.5158, 5.1330,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "XOR2_X1",
        area: 0.442368,
        leakage: 21260.3,
        pins: &[("A1", 1.5423, 1.5797), ("A2", 1.9629, 1.7509)],
        rise_delay: [
            3.2506, 11.8189, 59.7884, 6.5624, 16.6481, 64.5020, 11.5897, 28.2232, 85.5077,
        ],
        fall_delay: [
            3.3524, 9.6555, 44.3176, 6.3404, 14.4636, 49.2202, 11.7214, 27.1416, 72.4626,
        ],
        rise_slew: [
            3.6788, 20.8882, 120.9885, 5.6114, 22.7743, 120.9470, 15.9388, 38.2278, 135.6557,
        ],
        fall_slew: [
            3.7231, 14.8032, 84.5576, 5.1348, 16.7803, 84.6038, 16.0700, 33.2500, 99.8461,
        ],
        rise_energy: [
            0.7830, 0.7822, 0.7710, 1.0610, 1.0424, 0.9885, 3.5225, 3.8686, 3.5856,
        ],
        fall_energy: [
            0.6576, 0.6445, 0.6207, 0.7825, 0.8264, 0.8079, 3.0979, 3.3844, 3.1562,
        ],
        clock_energy: 0.0000,
        data_energy: 0.0000,
    },
    Fit {
        name: "CLKGATETST_X1",
        area: 0.835584,
        leakage: 37388.7,
        pins: &[
            ("CLK", 1.2946, 1.5162),
            ("E", 0.7293, 0.6321),
            ("TE", 0.6904, 0.6824),
        ],
        rise_delay: [
            4.4234, 10.4586, 40.3097, 9.4316, 15.4925, 45.4046, 24.0703, 31.7901, 62.8294,
        ],
        fall_delay: [
            2.8386, 8.7457, 40.2125, 5.7257, 11.6791, 43.1627, 4.1226, 11.9469, 43.8122,
        ],
        rise_slew: [
            1.8982, 12.0201, 69.7385, 2.7174, 12.3832, 69.8260, 6.2699, 15.5455, 71.7935,
        ],
        fall_slew: [
            1.3573, 12.0191, 72.4666, 2.4345, 12.2704, 72.5207, 6.1235, 15.4937, 73.7059,
        ],
        rise_energy: [
            0.6850, 0.8807, 0.9193, 1.4033, 1.4991, 1.5346, 6.0680, 6.5326, 7.0112,
        ],
        fall_energy: [
            1.5766, 2.0265, 2.0570, 1.8655, 2.6077, 2.7002, 5.1659, 6.5865, 7.9571,
        ],
        clock_energy: 0.4679,
        data_energy: 0.0000,
    },
];

/// Setup and hold of the flip-flop's D input against CLK (ps), from the same corner.
const DFF_SETUP_PS: f64 = 8.3;
const DFF_HOLD_PS: f64 = 2.0;
/// Setup and hold of the clock gate's E and TE inputs against CLK's rising edge (ps), from the
/// same corner at the smallest slews (the larger of the rise and fall constraints).
const GATE_SETUP_PS: f64 = 12.0;
const GATE_HOLD_PS: f64 = -1.8;
/// The tables' input slews (ps) and loads (fF); tools interpolate between them and extrapolate
/// past them. Three points a side follow the real tables' bend at small loads and slews.
const SLEWS: [f64; 3] = [1.0, 30.0, 200.0];
const LOADS: [f64; 3] = [0.5, 8.0, 50.0];
const POINTS: usize = SLEWS.len() * LOADS.len();

/// Inputs and Liberty function of each combinational cell.
fn logic(name: &str) -> Option<(&'static [&'static str], &'static str)> {
    // Drive strengths share a function: BUF_X1 and BUF_X4 are both "BUF".
    Some(match name.split("_X").next().unwrap_or(name) {
        "INV" => (&["A"], "!A"),
        "BUF" => (&["A"], "A"),
        "NAND2" => (&["A", "B"], "!(A&B)"),
        "NAND3" => (&["A", "B", "C"], "!(A&B&C)"),
        "NAND4" => (&["A", "B", "C", "D"], "!(A&B&C&D)"),
        "NOR2" => (&["A", "B"], "!(A|B)"),
        "NOR3" => (&["A", "B", "C"], "!(A|B|C)"),
        "NOR4" => (&["A", "B", "C", "D"], "!(A|B|C|D)"),
        "AND2" => (&["A", "B"], "(A&B)"),
        "AND3" => (&["A", "B", "C"], "(A&B&C)"),
        "AND4" => (&["A", "B", "C", "D"], "(A&B&C&D)"),
        "OR2" => (&["A", "B"], "(A|B)"),
        "OR3" => (&["A", "B", "C"], "(A|B|C)"),
        "OR4" => (&["A", "B", "C", "D"], "(A|B|C|D)"),
        "XOR2" => (&["A", "B"], "(A^B)"),
        "XNOR2" => (&["A", "B"], "!(A^B)"),
        "AOI21" => (&["A", "B", "C"], "!((A&B)|C)"),
        "AOI22" => (&["A", "B", "C", "D"], "!((A&B)|(C&D))"),
        "OAI21" => (&["A", "B", "C"], "!((A|B)&C)"),
        "OAI22" => (&["A", "B", "C", "D"], "!((A|B)&(C|D))"),
        "MUX2" => (&["A", "B", "S"], "((A&!S)|(B&S))"),
        _ => return None,
    })
}

impl Fit {
    fn pin(&self, name: &str) -> &(&'static str, f64, f64) {
        self.pins
            .iter()
            .find(|p| p.0 == name)
            .unwrap_or_else(|| panic!("{} has no pin {name}", self.name))
    }
}

/// A pin's capacitance attributes: the tools take the rising or falling one by the edge.
fn caps(&(_, rise, fall): &(&str, f64, f64)) -> String {
    format!(
        "capacitance : {:.4}; rise_capacitance : {rise:.4}; fall_capacitance : {fall:.4};",
        (rise + fall) / 2.0
    )
}

fn list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn table(kind: &str, template: &str, v: &[f64; POINTS]) -> String {
    let rows: Vec<String> = v
        .chunks(LOADS.len())
        .map(|r| format!("\"{}\"", list(r)))
        .collect();
    format!(
        "        {kind} ({template}) {{ values ({}); }}\n",
        rows.join(", ")
    )
}

fn arc(related: &str, sense: &str, timing_type: Option<&str>, f: &Fit) -> String {
    let mut s = format!("      timing () {{\n        related_pin : \"{related}\";\n        timing_sense : {sense};\n");
    if let Some(t) = timing_type {
        s.push_str(&format!("        timing_type : {t};\n"));
    }
    s.push_str(&table("cell_rise", "nt_3x3", &f.rise_delay));
    s.push_str(&table("cell_fall", "nt_3x3", &f.fall_delay));
    s.push_str(&table("rise_transition", "nt_3x3", &f.rise_slew));
    s.push_str(&table("fall_transition", "nt_3x3", &f.fall_slew));
    s.push_str("      }\n");
    s.push_str(&format!(
        "      internal_power () {{\n        related_pin : \"{related}\";\n"
    ));
    s.push_str(&table("rise_power", "nt_power_3x3", &f.rise_energy));
    s.push_str(&table("fall_power", "nt_power_3x3", &f.fall_energy));
    s.push_str("      }\n");
    s
}

fn sense_of(function: &str) -> &'static str {
    if function.contains('^') {
        "non_unate"
    } else if function.starts_with('!') {
        "negative_unate"
    } else if function.contains("!S") {
        "non_unate"
    } else {
        "positive_unate"
    }
}

/// An input's setup and hold against CLK's rising edge (ps).
fn setup_hold(setup: f64, hold: f64) -> String {
    format!(
        "      timing () {{ related_pin : \"CLK\"; timing_type : setup_rising;\n        \
         rise_constraint (scalar) {{ values (\"{setup}\"); }}\n        \
         fall_constraint (scalar) {{ values (\"{setup}\"); }} }}\n      \
         timing () {{ related_pin : \"CLK\"; timing_type : hold_rising;\n        \
         rise_constraint (scalar) {{ values (\"{hold}\"); }}\n        \
         fall_constraint (scalar) {{ values (\"{hold}\"); }} }}\n"
    )
}

/// CLKGATETST_X1: an integrated clock gate. E (or the test enable TE) is latched while CLK is
/// low and Q is CLK while the latch holds 1. As in the real cell, its clock pin takes what
/// OpenSTA reports for the real one closed (output held low), and its output the internal
/// energy of each transition it passes, so that a closed gate costs what the real one does.
fn clock_gate(f: &Fit) -> String {
    let constraint = |pin: &str| {
        format!(
            "    pin ({pin}) {{\n      direction : input;\n      clock_gate_{role}_pin : true;\n      {}\n{}    }}\n",
            caps(f.pin(pin)),
            setup_hold(GATE_SETUP_PS, GATE_HOLD_PS),
            role = if pin == "E" { "enable" } else { "test" },
        )
    };
    let mut s = String::from(
        "    clock_gating_integrated_cell : latch_posedge_precontrol;\n    \
         statetable (\"CLK E TE\", \"QD\") {\n      table : \"L L L : - : L, L L H : - : H, \
         L H L : - : H, L H H : - : H, H - - : - : N\";\n    }\n    \
         pin (QD) { direction : internal; internal_node : QD; }\n",
    );
    s.push_str(&format!(
        "    pin (CLK) {{\n      direction : input;\n      clock_gate_clock_pin : true;\n      {}\n      \
         internal_power () {{ rise_power (scalar) {{ values (\"{e:.4}\"); }} fall_power (scalar) {{ values (\"{e:.4}\"); }} }}\n    }}\n",
        caps(f.pin("CLK")),
        e = f.clock_energy
    ));
    s.push_str(&constraint("E"));
    s.push_str(&constraint("TE"));
    s.push_str(
        "    pin (Q) {\n      direction : output;\n      clock_gate_out_pin : true;\n      \
         state_function : \"(CLK & QD)\";\n",
    );
    s.push_str(&arc("CLK", "positive_unate", None, f));
    s.push_str("    }\n");
    s
}

/// The Liberty text of the embedded library.
pub fn embedded_liberty() -> String {
    let mut s = String::from(
        "/* nt15_typ: NeuroTrainer's embedded 15nm-class cell library (typical, 0.8 V, 25 C).\n   \
         Figures fitted to the NanGate 15nm Open Cell Library typical corner; see gen/src/liberty.rs. */\n\
         library (nt15_typ) {\n  delay_model : table_lookup;\n  time_unit : \"1ps\";\n  \
         voltage_unit : \"1V\";\n  current_unit : \"1uA\";\n  leakage_power_unit : \"1pW\";\n  \
         capacitive_load_unit (1, ff);\n  pulling_resistance_unit : \"1kohm\";\n  nom_process : 1.0;\n  \
         nom_temperature : 25.0;\n  nom_voltage : 0.8;\n  \
         operating_conditions (typical) { process : 1.0; voltage : 0.8; temperature : 25.0; }\n  \
         default_operating_conditions : typical;\n  default_max_transition : 500;\n  \
         input_threshold_pct_rise : 50;\n  input_threshold_pct_fall : 50;\n  \
         output_threshold_pct_rise : 50;\n  output_threshold_pct_fall : 50;\n  \
         slew_lower_threshold_pct_rise : 20;\n  slew_upper_threshold_pct_rise : 80;\n  \
         slew_lower_threshold_pct_fall : 20;\n  slew_upper_threshold_pct_fall : 80;\n",
    );
    s.push_str(&format!(
        "  lu_table_template (nt_3x3) {{\n    variable_1 : input_net_transition;\n    \
         variable_2 : total_output_net_capacitance;\n    index_1 (\"{}\");\n    index_2 (\"{}\");\n  }}\n",
        list(&SLEWS),
        list(&LOADS)
    ));
    s.push_str(&format!(
        "  power_lut_template (nt_power_3x3) {{\n    variable_1 : input_transition_time;\n    \
         variable_2 : total_output_net_capacitance;\n    index_1 (\"{}\");\n    index_2 (\"{}\");\n  }}\n",
        list(&SLEWS),
        list(&LOADS)
    ));
    for f in FITS {
        s.push_str(&format!(
            "  cell ({}) {{\n    area : {:.6};\n    cell_leakage_power : {:.1};\n",
            f.name, f.area, f.leakage
        ));
        if let Some((inputs, function)) = logic(f.name) {
            for (i, real) in inputs.iter().zip(f.pins) {
                s.push_str(&format!(
                    "    pin ({i}) {{ direction : input; {} }}\n",
                    caps(real)
                ));
            }
            s.push_str(&format!(
                "    pin (Y) {{\n      direction : output;\n      function : \"{function}\";\n"
            ));
            for i in inputs.iter() {
                s.push_str(&arc(i, sense_of(function), None, f));
            }
            s.push_str("    }\n");
        } else if f.name.starts_with("CLKGATE") {
            s.push_str(&clock_gate(f));
        } else {
            // DFFRNQ_X1: rising-edge D flip-flop with an active-low asynchronous clear.
            s.push_str(
                "    ff (IQ, IQN) { next_state : \"D\"; clocked_on : \"CLK\"; clear : \"!RN\"; }\n",
            );
            // The clock pin burns energy on every clock edge, whether or not the data changes.
            s.push_str(&format!(
                "    pin (CLK) {{\n      direction : input;\n      clock : true;\n      {}\n      \
                 internal_power () {{ rise_power (scalar) {{ values (\"{e:.4}\"); }} fall_power (scalar) {{ values (\"{e:.4}\"); }} }}\n    }}\n",
                caps(f.pin("CLK")),
                e = f.clock_energy
            ));
            s.push_str(&format!(
                "    pin (RN) {{ direction : input; {} }}\n",
                caps(f.pin("RN"))
            ));
            s.push_str(&format!(
                "    pin (D) {{\n      direction : input;\n      {}\n      \
                 internal_power () {{ rise_power (scalar) {{ values (\"{e:.4}\"); }} fall_power (scalar) {{ values (\"{e:.4}\"); }} }}\n{}    }}\n",
                caps(f.pin("D")),
                setup_hold(DFF_SETUP_PS, DFF_HOLD_PS),
                e = f.data_energy
            ));
            s.push_str("    pin (Q) {\n      direction : output;\n      function : \"IQ\";\n");
            s.push_str(&arc("CLK", "non_unate", Some("rising_edge"), f));
            s.push_str("    }\n");
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_has_a_function_or_is_the_flip_flop_or_the_clock_gate() {
        for f in FITS {
            assert!(
                logic(f.name).is_some()
                    || f.name.starts_with("DFF")
                    || f.name.starts_with("CLKGATE"),
                "{}",
                f.name
            );
        }
        assert!(
            FITS.iter().any(|f| f.name == "BUF_X1"),
            "ABC needs a buffer"
        );
    }

    #[test]
    fn liberty_text_is_balanced_and_deterministic() {
        let a = embedded_liberty();
        assert_eq!(a, embedded_liberty());
        assert_eq!(a.matches('{').count(), a.matches('}').count());
        assert_eq!(a.matches("cell (").count(), FITS.len());
    }
}
