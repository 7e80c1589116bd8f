import { useState } from 'react'
import { AuthError, adminToken, downloadTrainingData } from '../api/client'

// DownloadLink saves training_data.jsonl. On this machine the plain link
// streams the export; with an admin token (a remote admin) the click
// fetches it with the Authorization header instead, since a link cannot
// carry one.
export function DownloadLink() {
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  return (
    <span className="text-sm">
      <a
        className="text-indigo-700 underline"
        href="/api/training-data"
        download="training_data.jsonl"
        aria-busy={busy}
        onClick={(e) => {
          if (adminToken.get() == null) return // local: let the browser stream it
          e.preventDefault()
          setError(null)
          setBusy(true)
          downloadTrainingData()
            .catch((err: unknown) =>
              setError(err instanceof AuthError ? 'the admin token was refused' : `download failed: ${String(err)}`),
            )
            .finally(() => setBusy(false))
        }}
      >
        Download training_data.jsonl
      </a>
      {error && (
        <span role="alert" className="ml-2 text-rose-700">
          {error}
        </span>
      )}
    </span>
  )
}
