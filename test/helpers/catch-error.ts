/** The error of class `type` that `run` throws; fails the test when it throws nothing or another error. */
export function catchErrorOf<E extends Error>(type: abstract new (...args: never[]) => E, run: () => unknown, expected = `a ${type.name}`): E {
  try {
    run();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected ${expected}`);
}
