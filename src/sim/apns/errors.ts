/** Bad input to the simulator's own API (methods or control routes): the control API answers 400. */
export class SimInputError extends Error {
  override name = 'SimInputError';
}
