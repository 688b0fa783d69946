/**
 * Subscribe and Unsubscribe (MS-OXWSNTIF 3.1.4.3 and 3.1.4.4).
 *
 * Only push subscriptions are simulated; pull and streaming requests are answered with an error
 * response. Unsubscribe is honest to the specification: it ends pull and streaming subscriptions
 * only, and for a push subscription answers ErrorInvalidSubscription (MS-OXWSNTIF 3.1.4.4). A
 * push subscription ends when the client answers a notification with SubscriptionStatus
 * Unsubscribe, or when Exchange gives up retrying.
 */
import { type EwsContext, type EwsResult, schemaFault } from './ews-common.ts';
import { resolveFolder } from './ews-items.ts';
import { errorMessage, responseBody, responseEnvelope, successMessage } from './soap.ts';
import { type EventName, eventsAfter } from './store.ts';
import { child, children, esc, NS, textOf, type XmlElement } from './xml.ts';

/** types.xsd NotificationEventTypeType. */
const EVENT_TYPES = new Set<EventName>([
  'CopiedEvent',
  'CreatedEvent',
  'DeletedEvent',
  'ModifiedEvent',
  'MovedEvent',
  'NewMailEvent',
  'FreeBusyChangedEvent',
]);

function subscribeAnswer(message: string): EwsResult {
  return { status: 200, body: responseEnvelope(responseBody('Subscribe', [message])) };
}

function subscribeError(code: string, text: string): EwsResult {
  return subscribeAnswer(errorMessage('SubscribeResponseMessage', code, text));
}

export function subscribe(op: XmlElement, ctx: EwsContext): EwsResult {
  const push = child(op, NS.m, 'PushSubscriptionRequest');
  if (!push) {
    if (child(op, NS.m, 'PullSubscriptionRequest') || child(op, NS.m, 'StreamingSubscriptionRequest')) {
      return subscribeError(
        'ErrorInvalidSubscriptionRequest',
        'The Exchange simulator supports push subscriptions only.',
      );
    }
    throw schemaFault(
      'Subscribe needs PushSubscriptionRequest, PullSubscriptionRequest or StreamingSubscriptionRequest',
    );
  }

  // Schema-level checks first: Exchange rejects these with a fault before looking at the mailbox.
  const eventTypes: EventName[] = [];
  for (const el of children(child(push, NS.t, 'EventTypes'), NS.t, 'EventType')) {
    const name = textOf(el) as EventName;
    if (!EVENT_TYPES.has(name)) throw schemaFault(`'${textOf(el)}' is not a valid EventType`);
    if (!eventTypes.includes(name)) eventTypes.push(name);
  }
  if (eventTypes.length === 0) throw schemaFault('EventTypes must list at least one EventType');
  const frequencyText = textOf(child(push, NS.t, 'StatusFrequency'));
  if (frequencyText === undefined) throw schemaFault('StatusFrequency is required');
  const statusFrequencyMinutes = Number(frequencyText);
  if (!/^[+]?\d+$/.test(frequencyText) || statusFrequencyMinutes < 1 || statusFrequencyMinutes > 1440) {
    throw schemaFault(`StatusFrequency '${frequencyText}' is not an integer from 1 to 1440`);
  }
  const urlText = textOf(child(push, NS.t, 'URL'));
  if (urlText === undefined) throw schemaFault('URL is required');

  const folderIds = child(push, NS.t, 'FolderIds');
  const allFolders = push.attrs.SubscribeToAllFolders === 'true' || push.attrs.SubscribeToAllFolders === '1';
  if (!folderIds && !allFolders) {
    return subscribeError(
      'ErrorInvalidSubscriptionRequest',
      'FolderIds or SubscribeToAllFolders is required.',
    );
  }
  for (const folder of folderIds?.children ?? []) {
    const problem = resolveFolder(folder, ctx);
    if (problem) return subscribeError(problem.code, problem.text);
  }

  let url: URL | undefined;
  try {
    url = new URL(urlText);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    return subscribeError('ErrorInvalidPushSubscriptionUrl', 'The push subscription URL is invalid.');
  }

  const requestedWatermark = textOf(child(push, NS.t, 'Watermark'));
  const watermark = requestedWatermark || ctx.mailbox.watermark;
  const replay = eventsAfter(ctx.mailbox, watermark);
  if (!replay)
    return subscribeError(
      'ErrorInvalidWatermark',
      'The watermark used for creating this subscription was not found.',
    );

  const id = ctx.notifier.subscribe(ctx.mailbox, {
    callbackUrl: urlText,
    statusFrequencyMinutes,
    eventTypes,
    watermark,
    version: ctx.version,
    replay,
  });
  const message = successMessage(
    'SubscribeResponseMessage',
    `<m:SubscriptionId>${esc(id)}</m:SubscriptionId><m:Watermark>${esc(watermark)}</m:Watermark>`,
  );
  return { ...subscribeAnswer(message), after: () => ctx.notifier.start(id) };
}

export function unsubscribe(op: XmlElement, ctx: EwsContext): EwsResult {
  const id = textOf(child(op, NS.m, 'SubscriptionId'));
  if (!id) throw schemaFault('Unsubscribe needs a SubscriptionId');
  const answer = (message: string) => ({
    status: 200,
    body: responseEnvelope(responseBody('Unsubscribe', [message])),
  });
  const owner = ctx.notifier.owner(id);
  if (!owner) {
    return answer(
      errorMessage(
        'UnsubscribeResponseMessage',
        'ErrorSubscriptionNotFound',
        'The specified subscription was not found.',
      ),
    );
  }
  if (owner !== ctx.mailbox) {
    return answer(
      errorMessage(
        'UnsubscribeResponseMessage',
        'ErrorSubscriptionAccessDenied',
        'You cannot access a subscription created by another account.',
      ),
    );
  }
  // Every subscription here is a push subscription (MS-OXWSNTIF 3.1.4.4).
  return answer(
    errorMessage(
      'UnsubscribeResponseMessage',
      'ErrorInvalidSubscription',
      'Unsubscribe ends pull and streaming subscriptions only; answer a notification with SubscriptionStatus Unsubscribe to end a push subscription.',
    ),
  );
}
