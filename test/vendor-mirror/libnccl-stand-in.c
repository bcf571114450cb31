/* The stand-in libnccl.so.2 of the mirror's nvidia-nccl-cu13 wheels (test only, no collectives): exports
   ncclGetVersion as NCCL does since 2.9 (major * 10000 + minor * 100 + patch). pypi-mirror.ts builds one per
   wheel version with -DSTAND_IN_NCCL_VERSION_CODE=<code>. */
#ifndef STAND_IN_NCCL_VERSION_CODE
#error "build with -DSTAND_IN_NCCL_VERSION_CODE=<major*10000+minor*100+patch>"
#endif

int ncclGetVersion(int *version) {
  *version = STAND_IN_NCCL_VERSION_CODE;
  return 0;
}

/* Lets a reader of the mapped library (or of an image) tell the stand-in from NVIDIA's build. */
const char imagebuild_stand_in[] = "imagebuild test stand-in for libnccl";
