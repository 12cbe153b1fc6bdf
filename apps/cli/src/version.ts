/** The version printed by `lazypull --version`. */
export const VERSION = "0.1.0"
