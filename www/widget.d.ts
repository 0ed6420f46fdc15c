// Types of the <hearth-chat> custom element (widget.js).
import type { AskResult, Evidence, Hearth, HearthErrorCode, ModelInfo } from './client.js';

export declare class HearthChat extends HTMLElement {
  /** The client in use, once started. */
  readonly client: Hearth | null;
  /** Asks a question; resolves to the answer (also sent as the `hearth-answer` event). */
  ask(question: string): Promise<AskResult | null>;
}

declare global {
  interface HTMLElementTagNameMap {
    'hearth-chat': HearthChat;
  }
  // The events bubble and are composed: the element, its ancestors, the document and the window hear them.
  interface GlobalEventHandlersEventMap {
    'hearth-ready': CustomEvent<{ model: ModelInfo }>;
    'hearth-answer': CustomEvent<AskResult & { type: 'answer' }>;
    'hearth-citations': CustomEvent<{ citations: Evidence[] }>;
    'hearth-error': CustomEvent<{ code: HearthErrorCode; message: string }>;
  }
}
