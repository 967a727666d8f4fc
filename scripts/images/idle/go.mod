module hopper.dev/images/idle

go 1.22
