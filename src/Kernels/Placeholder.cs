namespace Mlx.Kernels;
