// Python minors with wheels, shared by the PyTorch and TensorFlow rows.
export const PY_38_TO_311 = ['3.8', '3.9', '3.10', '3.11'];
export const PY_38_TO_312 = ['3.8', '3.9', '3.10', '3.11', '3.12'];
export const PY_39_TO_311 = ['3.9', '3.10', '3.11'];
export const PY_39_TO_312 = ['3.9', '3.10', '3.11', '3.12'];
export const PY_39_TO_313 = ['3.9', '3.10', '3.11', '3.12', '3.13'];
export const PY_310_TO_313 = ['3.10', '3.11', '3.12', '3.13'];
export const PY_310_TO_314 = ['3.10', '3.11', '3.12', '3.13', '3.14'];
export const PY_310_TO_315 = ['3.10', '3.11', '3.12', '3.13', '3.14', '3.15'];
