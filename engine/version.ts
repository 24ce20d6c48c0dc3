/** Tool version written into results and reports. */
export const VERSION = "0.1.0";
