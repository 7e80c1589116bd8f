import { useEffect, useState } from 'react'

// usePoll calls load now and then every intervalMs, keeping the latest
// result; a failed call keeps the last good data and reports the error.
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, intervalMs: number) {
  const [data, setData] = useState<T | null>(null)
  const [error, setError] = useState<unknown>(null)
  useEffect(() => {
    const ctrl = new AbortController()
    let timer: ReturnType<typeof setTimeout>
    const tick = async () => {
      try {
        setData(await load(ctrl.signal))
        setError(null)
      } catch (e) {
        if (!ctrl.signal.aborted) setError(e)
      }
      if (!ctrl.signal.aborted) timer = setTimeout(tick, intervalMs)
    }
    tick()
    return () => {
      ctrl.abort()
      clearTimeout(timer)
    }
  }, [load, intervalMs])
  return { data, error }
}
