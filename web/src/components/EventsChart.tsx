import type { MinuteCount } from '../api/types'

// minutesFrom lists the minutes from "from" (YYYY-MM-DDTHH:MM, UTC) on.
export function minutesFrom(from: string, n: number): string[] {
  const start = Date.parse(from + ':00Z')
  return Array.from({ length: n }, (_, i) => new Date(start + i * 60_000).toISOString().slice(0, 16))
}

// EventsChart draws events per minute as bars, one per minute, all names summed.
export function EventsChart({ from, counts, minutes = 30 }: { from: string; counts: MinuteCount[]; minutes?: number }) {
  const totals = new Map<string, number>()
  for (const c of counts) totals.set(c.minute, (totals.get(c.minute) ?? 0) + c.count)
  const slots = minutesFrom(from, minutes)
  const max = Math.max(1, ...slots.map((m) => totals.get(m) ?? 0))
  const w = 8
  const h = 60
  return (
    <figure>
      <svg viewBox={`0 0 ${slots.length * w} ${h}`} className="h-20 w-full" role="img" aria-label="Events per minute">
        {slots.map((m, i) => {
          const n = totals.get(m) ?? 0
          const bh = (n / max) * (h - 2)
          return (
            <rect key={m} x={i * w + 1} y={h - bh} width={w - 2} height={bh} className="fill-indigo-500">
              <title>{`${m} UTC: ${n}`}</title>
            </rect>
          )
        })}
      </svg>
      <figcaption className="text-xs text-slate-500">Events per minute, last {minutes} minutes (UTC)</figcaption>
    </figure>
  )
}
