/** Go-compatible RFC 3339 formatting and parsing on Unix seconds, without `Date` (any safe-integer year works). */

/** Unix seconds of Go's zero time, 0001-01-01T00:00:00Z. */
export const GO_ZERO_UNIX = -62135596800

const pad2 = (v: number): string => (v < 10 ? "0" + v : String(v))

/** Days since 1970-01-01 to the proleptic Gregorian (year, month, day). */
export const civilFromDays = (days: number): [number, number, number] => {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  )
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d]
}

/** Proleptic Gregorian (year, month, day) to days since 1970-01-01. */
export const daysFromCivil = (y0: number, m: number, d: number): number => {
  const y = m <= 2 ? y0 - 1 : y0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

// Go's Format of the year: at least 4 digits, a leading '-' for negative years.
const formatYear = (y: number): string => {
  const a = Math.abs(y)
  const digits = a < 10 ? "000" + a : a < 100 ? "00" + a : a < 1000 ? "0" + a : String(a)
  return y < 0 ? "-" + digits : digits
}

/**
 * The estargz `modtime` string for a time given in Unix seconds (fraction allowed), as the Go writer makes it:
 * `undefined` when the time is Go's zero time or within Unix second 0, otherwise rounded to the nearest second
 * (Go `Round`: halves go up, towards the later second) and formatted in UTC as `YYYY-MM-DDTHH:MM:SSZ`.
 */
export const formatModtime = (seconds: number): string | undefined => {
  if (!Number.isFinite(seconds)) return undefined
  const whole = Math.floor(seconds)
  if (whole === 0 || seconds === GO_ZERO_UNIX) return undefined
  const t = seconds - whole >= 0.5 ? whole + 1 : whole
  if (!Number.isSafeInteger(t)) return undefined
  const days = Math.floor(t / 86400)
  const sod = t - days * 86400
  const [y, m, d] = civilFromDays(days)
  const hh = Math.floor(sod / 3600)
  const mm = Math.floor((sod % 3600) / 60)
  const ss = sod % 60
  return `${formatYear(y)}-${pad2(m)}-${pad2(d)}T${pad2(hh)}:${pad2(mm)}:${pad2(ss)}Z`
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * Unix seconds (with the fraction, to nanosecond precision) of an RFC 3339 time as Go's `time.Parse(time.RFC3339)`
 * accepts it: 4-digit year, range-checked fields, optional `.` or `,` fraction, `Z` or `±hh:mm`.
 * `undefined` when it does not parse, when the year is 0001 (Go's zero time, written by old c/storage) and when
 * it falls within Unix second 0.
 */
export const parseModtime = (s: string): number | undefined => {
  const m = RFC3339.exec(s)
  if (m === null) return undefined
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const hour = Number(m[4])
  const minute = Number(m[5])
  const second = Number(m[6])
  if (month < 1 || month > 12) return undefined
  const dim = month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!
  if (day < 1 || day > dim || hour > 23 || minute > 59 || second > 59) return undefined
  let offset = 0
  if (m[8] !== undefined) {
    const oh = Number(m[9])
    const om = Number(m[10])
    if (oh > 24 || om > 59) return undefined
    offset = (oh * 3600 + om * 60) * (m[8] === "-" ? -1 : 1)
  }
  if (year === 1) return undefined
  const whole = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
  const frac = m[7] === undefined ? 0 : Number("0." + m[7].slice(0, 9))
  if (whole === 0) return undefined
  return frac === 0 ? whole : whole + frac
}
