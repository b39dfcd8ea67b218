namespace Mlx.Formats;
