/* The row kernels on their own, one thread, timed in chunks of about 4 MB of logits: the best chunk over all
 * repeats is reported, so that a shared, loaded machine still gives stable figures (a whole 250 MB call is
 * rarely left alone for its 50 ms).  Build (see docs/performance.md) against a source tree, then
 *     ./rowbench MODE N C REPS [f]
 * MODE: fwd (sparse loss), fused (sparse loss + gradient into a preallocated array), lse, softmax;
 * f: also time the read floor (a vectorised sum) and the copy floor (memcpy) over the same chunks (float32).
 * ROWBENCH_DTYPE=float16 or bfloat16 (environment): time that element type's kernels on the same values
 * (gradients in the same type), next to the float32 floors.
 * Define ROWS_API when the tree has ce_xent_rows (blocks of rows), as the package's driver calls it,
 * TRANSFORM_ROWS_API when it has ce_transform_rows too, and PIPE_ROWS_API when the problems have pipe_rows
 * (the driver's blocks: one per thread). */
#include "_rowmath.h"
#include <numpy/ndarraytypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static const char*const MODES[]={"fwd","fused","lse","softmax"};
int main(int argc,char**argv){
  int known=0; for(int i=0;argc>1&&i<4;i++) known|=!strcmp(argv[1],MODES[i]);
  if(argc<5||!known||atol(argv[2])<1||atol(argv[3])<1||atoi(argv[4])<1){
    fprintf(stderr,"usage: rowbench fwd|fused|lse|softmax N C REPS [f]   (N, C, REPS at least 1)\n"); return 2;}
  const char*mode=argv[1]; npy_intp N=atol(argv[2]),C=atol(argv[3]); int R=atoi(argv[4]);
  int floors = argc>5;
  float*x=aligned_alloc(64,N*C*4),*g=aligned_alloc(64,N*C*4),*loss=calloc(N,4),*dst=aligned_alloc(64,N*C*4);
  int64_t*lab=malloc(N*8); unsigned s=1;
  for(npy_intp i=0;i<N*C;i++){s=s*1103515245u+12345u; x[i]=((int)(s>>8)%20000)/1000.0f-10.0f; g[i]=0; dst[i]=0;}
  for(npy_intp i=0;i<N;i++){s=s*1103515245u+12345u; lab[i]=(s>>8)%C;}
  const char*dt=getenv("ROWBENCH_DTYPE"); int es=4, bf=0; const ce_dtype_kernels*k=ce_kernels_for(NPY_FLOAT32);
  char*xe=(char*)x,*ge=(char*)g;
  if(dt&&strcmp(dt,"float32")){   /* the same values in a half type (x, g reused as 16-bit arrays) */
    bf=!strcmp(dt,"bfloat16"); es=2; uint16_t*h=aligned_alloc(64,N*C*2); uint16_t*hg=aligned_alloc(64,N*C*2);
    for(npy_intp i=0;i<N*C;i++){uint32_t u; memcpy(&u,&x[i],4); h[i]=bf?(uint16_t)(u>>16):0; hg[i]=0;
      if(!bf){_Float16 v=(_Float16)x[i]; memcpy(&h[i],&v,2);}}
    if(bf) ce_set_bfloat16_type_num(256);
    k=ce_kernels_for(bf?256:NPY_HALF); xe=(char*)h; ge=(char*)hg;
  }
  ce_xent_problem p; ce_xent_problem_init(&p);
  p.rows=N;p.cols=C;p.x=xe;p.x_rs=C*es;p.x_cs=es;
  p.lab=(char*)lab;p.lab_rs=8;p.lab_is64=1;p.loss=(char*)loss;p.loss_rs=4;
  if(!strcmp(mode,"fused")){p.grad=ge;p.g_rs=C*es;p.g_cs=es;}
  ce_transform_problem tp; ce_transform_problem_init(&tp); tp.rows=N;tp.cols=C;tp.x=xe;tp.x_rs=C*es;tp.x_cs=es;
  if(!strcmp(mode,"lse")){tp.what=CE_ROW_LSE;tp.y=(char*)loss;tp.y_rs=4;}
  if(!strcmp(mode,"softmax")){tp.what=CE_ROW_SOFTMAX;tp.y=ge;tp.y_rs=C*es;tp.y_cs=es;}
  int tr = !strcmp(mode,"lse")||!strcmp(mode,"softmax");
  int small = !tr && k->xent_small_ok(&p);
  double best=1e9,bestr=1e9,bestc=1e9; volatile float sink=0;
  npy_intp CH = (1 << 20) / C; /* rows per timed chunk (~4 MB): best chunk over all reps (the machine is shared) */
  if (CH < 1) CH = 1;
  if (CH >= CE_BLOCK_ROWS) CH -= CH % CE_BLOCK_ROWS;
  if (CH > N) CH = N;
#ifdef ROWS_API
  npy_intp PR = ce_pipe_rows(N, C); if (CH % PR) CH -= CH % PR; if (CH < PR) CH = PR;
#endif
#ifdef PIPE_ROWS_API   /* as the package's driver on one thread: a chunk is one block */
  PR = CH; p.pipe_rows = CH; tp.pipe_rows = CH;
#endif
  for(int r=0;r<R;r++){
   for(npy_intp c0=0;c0+CH<=N;c0+=CH){
    double t0=now();
#ifdef TRANSFORM_ROWS_API
    if(tr) for(npy_intp b=c0/PR;b<(c0+CH)/PR;b++) k->transform_rows(&tp,b);
#else
    if(tr) for(npy_intp i=c0;i<c0+CH;i++) k->transform_row(&tp,i);
#endif
    else if(small) for(npy_intp b=c0/CE_BLOCK_ROWS;b*CE_BLOCK_ROWS<c0+CH;b++) k->xent_small_block(&p,b);
#ifdef ROWS_API
    else for(npy_intp b=c0/PR;b<(c0+CH)/PR;b++) k->xent_rows(&p,b);
#else
    else for(npy_intp i=c0;i<c0+CH;i++) k->xent_row(&p,i);
#endif
    double t=now()-t0; if(t<best)best=t;
    if(floors){
      t0=now(); float a0=0;
      #pragma omp simd reduction(+:a0)
      for(npy_intp i=c0*C;i<(c0+CH)*C;i++) a0+=x[i];
      sink+=a0; t=now()-t0; if(t<bestr)bestr=t;
      t0=now(); memcpy(dst+c0*C,x+c0*C,CH*C*4); t=now()-t0; if(t<bestc)bestc=t;
    }
   }
  }
  N = CH;
  double e=(double)N*C;
  printf("%s %ldx%ld: %.4f ns/elem", mode,(long)N,(long)C,best/e*1e9);
  if(floors) printf("  read %.4f copy %.4f  -> %.2fx read %.2fx copy", bestr/e*1e9,bestc/e*1e9,best/bestr,best/bestc);
  /* the checksum: the losses (logsumexps) of the chunk's rows, or for softmax the sum of its output rows */
  double cs=0; for(npy_intp i=0;i<N;i++) cs+=loss[i];
  if(!strcmp(mode,"softmax")) for(npy_intp i=0;i<N*C;i++){
    if(es==4){cs+=((const float*)ge)[i];continue;}
    uint16_t b; memcpy(&b,ge+2*i,2);
    if(bf){uint32_t u=(uint32_t)b<<16; float f; memcpy(&f,&u,4); cs+=f;}
    else{_Float16 h; memcpy(&h,&b,2); cs+=(float)h;}
  }
  printf("  [checksum %.9g]\n",cs);
  return 0;
}
