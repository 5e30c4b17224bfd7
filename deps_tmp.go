package deps
import (
 _ "github.com/eclipse/paho.golang/autopaho"
 _ "github.com/eclipse/paho.golang/paho"
 _ "github.com/eclipse/paho.golang/paho/session/state"
 _ "github.com/eclipse/paho.golang/paho/store/file"
 _ "github.com/mochi-mqtt/server/v2"
 _ "github.com/mochi-mqtt/server/v2/hooks/auth"
 _ "github.com/mochi-mqtt/server/v2/listeners"
 _ "github.com/mochi-mqtt/server/v2/packets"
 _ "gopkg.in/yaml.v3"
 _ "github.com/rs/zerolog"
 _ "golang.org/x/sys/unix"
)
