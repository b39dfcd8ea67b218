namespace Mlx;
