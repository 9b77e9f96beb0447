import { NetworkAdapter, type Message, type PeerId, type PeerMetadata } from "@automerge/automerge-repo/slim"

/** Two in-memory network adapters wired to each other, for tests: a "server" Repo and a
 * phone's store. `cut()` and `mend()` play losing and regaining the network. */
export class PairAdapter extends NetworkAdapter {
  other?: PairAdapter
  up = false
  linked = true

  isReady(): boolean {
    return true
  }
  whenReady(): Promise<void> {
    return Promise.resolve()
  }
  connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    this.peerId = peerId
    this.peerMetadata = peerMetadata
    this.up = true
    this.handshake()
  }
  private handshake(): void {
    const o = this.other
    if (!o || !o.up || !this.up || !this.linked || !o.linked) return
    o.emit("peer-candidate", { peerId: this.peerId!, peerMetadata: this.peerMetadata ?? {} })
    this.emit("peer-candidate", { peerId: o.peerId!, peerMetadata: o.peerMetadata ?? {} })
  }
  send(message: Message): void {
    const o = this.other
    if (!o || !this.linked || !o.linked || !o.up) return
    setTimeout(() => o.linked && o.emit("message", message), 1)
  }
  disconnect(): void {
    this.cut()
    this.up = false
  }
  /** The network goes away. */
  cut(): void {
    if (!this.linked) return
    this.linked = false
    const o = this.other
    if (o?.peerId) this.emit("peer-disconnected", { peerId: o.peerId })
    if (o && this.peerId) o.emit("peer-disconnected", { peerId: this.peerId })
  }
  /** The network comes back. */
  mend(): void {
    this.linked = true
    this.up = true
    this.handshake()
  }
}

export function pair(): [PairAdapter, PairAdapter] {
  const a = new PairAdapter()
  const b = new PairAdapter()
  a.other = b
  b.other = a
  return [a, b]
}

export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000, what = "condition"): Promise<void> {
  const until = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 10))
  }
}
