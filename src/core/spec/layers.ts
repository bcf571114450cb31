/** The five layers of every image, bottom to top; a layer's parent is the one before it. */
export const LAYER_NAMES = ['base', 'driver', 'runtime', 'frameworks', 'validation'] as const;

export type LayerName = (typeof LAYER_NAMES)[number];

/** Narrows a string to a layer name. */
export function isLayerName(value: string): value is LayerName {
  return (LAYER_NAMES as readonly string[]).includes(value);
}

/** The layer directly below `layer`, or undefined for base. */
export function parentLayer(layer: LayerName): LayerName | undefined {
  const index = LAYER_NAMES.indexOf(layer);
  return index > 0 ? LAYER_NAMES[index - 1] : undefined;
}
