using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Mlx.Formats.Tests")]
