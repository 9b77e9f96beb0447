import type { PeerId, PeerMetadata } from "@automerge/automerge-repo/slim"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import type { Link } from "./store"

/**
 * automerge-repo's WebSocket client, made pausable: while paused (the device is offline,
 * or the session expired) it does not dial at all, instead of retrying every few seconds;
 * `resume()` dials at once (the `online` event; a new token, so a new session cookie).
 */
class PausableSocket extends WebSocketClientAdapter {
  paused = false

  override connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata ?? this.peerMetadata
    if (this.paused) return
    super.connect(peerId, peerMetadata ?? this.peerMetadata)
  }

  pause(): void {
    this.paused = true
    if (this.socket && this.peerId) this.disconnect()
  }

  resume(): void {
    this.paused = false
    if (!this.peerId) return // the Repo has not connected us yet; it will
    if (this.socket) this.disconnect()
    super.connect(this.peerId, this.peerMetadata)
  }
}

export function webSocketLink(url: string, startPaused: boolean): Link {
  const socket = new PausableSocket(url, 5000)
  socket.paused = startPaused
  return {
    adapter: socket,
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  }
}
