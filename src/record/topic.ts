/**
 * Rules for client pub/sub topics and messages, shared by the client (which checks before it
 * sends) and the node (which checks what arrives): a topic name's alphabet and length, and a
 * message's largest size. See docs/pubsub.md.
 */
import { WwError } from '../errors.js'

/** A topic name broke the naming rule of {@link validateTopicName}. */
export const ERR_TOPIC_NAME = 'ERR_TOPIC_NAME'
/** A message is larger than {@link MAX_MESSAGE_SIZE}. */
export const ERR_MESSAGE_TOO_LARGE = 'ERR_MESSAGE_TOO_LARGE'
/** The node holds as many topics or subscriptions as it allows. */
export const ERR_PUBSUB_LIMIT = 'ERR_PUBSUB_LIMIT'
/** The mesh refused the message (the node is stopping, or gossipsub failed). */
export const ERR_PUBLISH_FAILED = 'ERR_PUBLISH_FAILED'

/** Longest topic name, in characters. @default 128 */
export const MAX_TOPIC_LENGTH = 128
/** Largest message payload in bytes (64 KiB). @default 65536 */
export const MAX_MESSAGE_SIZE = 64 * 1024

const TOPIC_NAME = /^[A-Za-z0-9._\/-]+$/

/**
 * Checks a client topic name: 1–{@link MAX_TOPIC_LENGTH} characters of letters, digits,
 * `.`, `_`, `-`, `/`. Returns it; throws WwError ERR_TOPIC_NAME otherwise. Used by the
 * client too, so a bad name fails before anything is sent.
 */
export function validateTopicName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_TOPIC_LENGTH || !TOPIC_NAME.test(name)) {
    const shown = typeof name === 'string' ? `'${name.length > 40 ? name.slice(0, 40) + '…' : name}'` : typeof name
    throw new WwError(ERR_TOPIC_NAME, `invalid topic name ${shown}: use 1-${MAX_TOPIC_LENGTH} letters, digits, '.', '_', '-', '/'`)
  }
  return name
}

/** Checks a payload's size; throws WwError ERR_MESSAGE_TOO_LARGE above {@link MAX_MESSAGE_SIZE}. */
export function checkMessageSize(data: Uint8Array, max: number = MAX_MESSAGE_SIZE): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new TypeError('message data must be a Uint8Array')
  if (data.byteLength > max) {
    throw new WwError(ERR_MESSAGE_TOO_LARGE, `message of ${data.byteLength} bytes exceeds the limit of ${max} bytes`)
  }
  return data
}
