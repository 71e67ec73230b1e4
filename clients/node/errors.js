/**
 * Typed errors of the Coagent gateway, one class per stable error code.
 *
 *   import { Client, AgentNotFound, CoagentError } from '@coagent/client';
 *   try {
 *     await client.ask('nobody', { type: 'Ping' });
 *   } catch (err) {
 *     if (err instanceof AgentNotFound) console.log(err.code, err.status); // agent_not_found 404
 *   }
 *
 * The gateway answers every error as `{"code", "message", "details"?}`; `errorFromBody` turns
 * that into the class registered for its code (an unknown code gives a plain CoagentError that
 * still carries the code, so newer gateways never break older clients).
 */

/** Base of every error this client raises. */
export class CoagentError extends Error {
  static code = 'coagent_error';

  /**
   * @param {string} message
   * @param {{code?: string, status?: number, details?: object, retryAfter?: number, cause?: unknown}} [opts]
   */
  constructor(message, opts = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = this.constructor.name;
    /** The stable code (`agent_not_found`, `deadline_exceeded`, ...). */
    this.code = opts.code ?? this.constructor.code;
    /** The HTTP status the gateway answered with (0 when the error arose in this client). */
    this.status = opts.status ?? 0;
    this.details = opts.details ?? {};
    /** Seconds the gateway asked to wait before retrying (429 and 503), else undefined. */
    this.retryAfter = opts.retryAfter;
  }
}

const classes = new Map();

function define(name, code, base = CoagentError) {
  const cls = { [name]: class extends base { static code = code; } }[name];
  classes.set(code, cls);
  return cls;
}

// The gateway's own errors (coagent/gateway/errors.py).
export const BadRequest = define('BadRequest', 'bad_request');
export const Unauthorized = define('Unauthorized', 'unauthorized');
export const EndpointNotFound = define('EndpointNotFound', 'endpoint_not_found');
export const RequestTimeout = define('RequestTimeout', 'request_timeout');
export const MethodNotAllowed = define('MethodNotAllowed', 'method_not_allowed');
export const IdempotencyKeyReused = define('IdempotencyKeyReused', 'idempotency_key_reused');
export const NotImplementedHere = define('NotImplementedHere', 'not_implemented');
export const InternalError = define('InternalError', 'internal_error');
export const CallNotFound = define('CallNotFound', 'call_not_found');
// The system's errors (coagent/errors.py), the same codes in every language.
export const InvalidAddress = define('InvalidAddress', 'invalid_address');
export const MessageDecodeError = define('MessageDecodeError', 'message_decode_error');
export const MessageTypeConflict = define('MessageTypeConflict', 'message_type_conflict');
export const UnknownMessage = define('UnknownMessage', 'unknown_message');
export const AgentNotFound = define('AgentNotFound', 'agent_not_found');
export const AgentAlreadyRegistered = define('AgentAlreadyRegistered', 'agent_already_registered');
export const AgentCrashed = define('AgentCrashed', 'agent_crashed');
export const AgentStopped = define('AgentStopped', 'agent_stopped');
export const RestartLimitExceeded = define('RestartLimitExceeded', 'restart_limit_exceeded');
export const DeadlineExceeded = define('DeadlineExceeded', 'deadline_exceeded');
export const MailboxFull = define('MailboxFull', 'mailbox_full');
export const TooManySessions = define('TooManySessions', 'too_many_sessions');
export const RuntimeNotStarted = define('RuntimeNotStarted', 'runtime_not_started');
export const CallCancelled = define('CallCancelled', 'call_cancelled');
export const TransportError = define('TransportError', 'transport_error');
export const AgentDisconnected = define('AgentDisconnected', 'agent_disconnected', TransportError);
export const MessageTooLarge = define('MessageTooLarge', 'message_too_large');

/** The class for a code (CoagentError for a code this client does not know). */
export function errorClass(code) {
  return classes.get(code) ?? CoagentError;
}

/**
 * The typed error for a gateway's error body.
 * @param {number} status
 * @param {unknown} body the parsed JSON body (anything else gives an `internal_error`)
 * @param {Headers} [headers]
 */
export function errorFromBody(status, body, headers) {
  const retry = headers?.get('retry-after');
  const retryAfter = retry == null ? undefined : Number(retry);
  if (body && typeof body === 'object' && typeof body.code === 'string') {
    const cls = errorClass(body.code);
    return new cls(String(body.message ?? body.code), {
      code: body.code, status, details: body.details ?? {}, retryAfter,
    });
  }
  // Not one of our error bodies: a proxy in between, or a gateway of another kind.
  const cls = status === 401 ? Unauthorized : status === 404 ? EndpointNotFound : InternalError;
  return new cls(`HTTP ${status}: ${typeof body === 'string' ? body.slice(0, 200) : JSON.stringify(body)}`,
    { status, retryAfter });
}

/** The typed error for a failed HTTP response (reads its body). */
export async function errorFromResponse(resp) {
  const text = await resp.text().catch(() => '');
  let body = text;
  try { body = JSON.parse(text); } catch { /* not JSON: kept as text */ }
  return errorFromBody(resp.status, body, resp.headers);
}
